"""``promptlift optimize --dry-run`` against the loopback OpenAI-compatible FaultServer: it
counts every request at the wire, so "no model call" is measured, not assumed."""

from __future__ import annotations

import json

import pytest

from promptlift import cli
from promptlift.backends import registry
from tests.backends.servers import FaultServer
from tests.processes import optimize_args, reviews


@pytest.fixture
def server():
    server = FaultServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-plan")


def run(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("optimizer", ["fewshot", "gepa", "genetic"])
def test_dry_run_sends_no_request_and_plans_the_lm_calls_of_the_real_run(optimizer, server, tmp_path, capsys):
    """GEPA's proposer gets usable instructions (``propose``): echoed text is unusable, and a search
    whose every proposal is unusable ends by patience, which no plan foresees."""
    server.plan(then="propose")
    data = reviews(tmp_path / "data.jsonl", n=100)
    argv = optimize_args(data, server.url, tmp_path / "run", "--optimizer", optimizer, "--budget", "160",
                         "--model-option", "max_concurrency=1")
    code, out, _ = run([*argv, "--dry-run", "--json"], capsys)
    assert code == 0 and server.hits == 0
    plan = json.loads(out)
    assert not (tmp_path / "run").exists()  # a dry run writes nothing
    code, _, err = run(argv, capsys)
    assert code == 0
    assert err.splitlines()[0 if "note:" not in err else 1].startswith(f"plan: {plan['optimizer']}, ")
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    test_calls = sum(len(t["example_ids"]) for t in result["test_trials"])  # the seed's, and the best's if new
    search = server.hits - test_calls
    assert abs(plan["lm_calls"] - search) <= 0.10 * search, (plan["lm_calls"], search)
    assert json.loads((tmp_path / "run" / "plan.json").read_text())["lm_calls"] == plan["lm_calls"]


def test_dry_run_prints_the_plan_table_with_unknown_dollars(server, tmp_path, capsys):
    argv = optimize_args(reviews(tmp_path / "data.jsonl"), server.url, tmp_path / "run", "--budget", "60")
    code, out, _ = run([*argv, "--dry-run"], capsys)
    assert code == 0 and server.hits == 0
    assert "search: task model" in out and "$ unknown" in out and "4 characters per token" in out


def test_a_budget_that_cannot_pay_for_one_proposal_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(registry.ENGINES, "toy", "promptlift.testing.doubles:ToyEngine")
    rows = [{"review": f"a {'good' if i % 2 else 'bad'} film {i}", "label": "positive" if i % 2 else "negative",
             "split": "train" if i < 20 else "val" if i < 30 else "test"} for i in range(36)]
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    argv = ["optimize", "--task", str(data), "--model", "toy:x", "--optimizer", "gepa", "--budget", "20",
            "--run-dir", str(tmp_path / "run"), "--no-progress"]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert err.strip() == ("promptlift optimize: error: --budget 20 cannot pay for one reflection after the seed with "
                           "gepa (10 validation examples): use --budget 26 or more (--dry-run shows the plan)")
    assert not (tmp_path / "run").exists()


def test_dry_run_is_in_the_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["optimize", "--help"])
    assert "--dry-run" in capsys.readouterr().out


@pytest.mark.parametrize("optimizer", ["fewshot", "gepa"])
def test_a_run_on_a_fresh_cache_times_the_search_once_its_first_calls_are_timed(optimizer, server, tmp_path, capsys):
    """fewshot's time is known once the seed is scored; GEPA's also needs its proposer's first answer."""
    argv = optimize_args(reviews(tmp_path / "data.jsonl", n=100), server.url, tmp_path / "run", "--budget", "160",
                         "--optimizer", optimizer)
    code, _, err = run(argv, capsys)
    assert code == 0
    assert "time unknown" in err.splitlines()[0 if "note:" not in err else 1], err
    timed = [line for line in err.splitlines() if line.startswith("plan: the search takes ~")]
    assert len(timed) == 1 and "(timed on the run's first calls)" in timed[0], err
    saved = json.loads((tmp_path / "run" / "plan.json").read_text())
    assert saved["seconds"] is None and saved["seconds_timed"] > 0
