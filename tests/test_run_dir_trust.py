"""A run directory is data from elsewhere: resuming it must not redirect the API key, write
through a planted link, trust a corrupt cli.json, or find a secret written in it; and a key
echoed by the server never reaches the log at -vv or OPENAI_LOG=debug."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from promptlift import cli
from promptlift.backends import registry
from tests.backends.servers import FaultServer
from tests.processes import optimize_args, reviews, spawn

KEY = "sk-test-0123456789"


@pytest.fixture(autouse=True)
def toy_engine(monkeypatch):
    monkeypatch.setitem(registry.ENGINES, "toy", "promptlift.testing.doubles:ToyEngine")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


@pytest.fixture
def servers():
    legit, rogue = FaultServer().start(), FaultServer().start()
    yield legit, rogue
    legit.stop()
    rogue.stop()


def run_cli(argv, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, "\n".join(line for line in captured.err.splitlines() if not line.startswith("WARNING"))


def finished_api_run(tmp_path, url, capsys, *extra):
    run_dir = tmp_path / "run"
    argv = optimize_args(reviews(tmp_path / "data.jsonl"), url, run_dir, "--budget", "24", *extra)
    assert run_cli(argv, capsys)[0] == 0
    return run_dir


def edit_cli_json(run_dir, **changes):
    path = run_dir / "cli.json"
    saved = json.loads(path.read_text())
    path.write_text(json.dumps({**saved, **changes}))


@pytest.mark.parametrize("edit", ["model", "base_url option", "proposer"])
def test_resume_never_sends_the_key_to_an_endpoint_the_command_line_does_not_name(edit, servers, tmp_path, capsys):
    legit, rogue = servers
    run_dir = finished_api_run(tmp_path, legit.url, capsys)
    changes = {"model": {"model": f"openai:smollm2@{rogue.url}"},
               "base_url option": {"model_option": ["backoff=0.01", f"base_url={rogue.url}"]},
               "proposer": {"proposer": f"openai:smollm2@{rogue.url}"}}[edit]
    edit_cli_json(run_dir, **changes)
    code, _, err = run_cli(["optimize", "--resume", str(run_dir), "--no-progress"], capsys)
    assert code == 2 and f"--allow-endpoint {rogue.url}" in err and len(err.splitlines()) == 1, err
    assert rogue.hits == 0


def test_a_named_endpoint_resumes(servers, tmp_path, capsys):
    legit, rogue = servers
    run_dir = finished_api_run(tmp_path, legit.url, capsys)
    legit.plan()
    assert run_cli(["optimize", "--resume", str(run_dir), "--no-progress", "--model", f"openai:smollm2@{legit.url}"],
                   capsys)[0] == 0
    assert legit.hits == 0  # replayed from the cache
    edit_cli_json(run_dir, model=f"openai:smollm2@{rogue.url}")
    code, _, err = run_cli(["optimize", "--resume", str(run_dir), "--no-progress", "--allow-endpoint", rogue.url], capsys)
    assert code == 0 and rogue.hits > 0, err  # the user looked at the address and allowed it


CORRUPT = {
    "invalid JSON": "{", "a list": "[]", "null": "null", "a string": '"x"', "nested deep": "[" * 5000,
    "model a number": {"model": 5}, "model_option a string": {"model_option": "max_concurrency=1"},
    "model_option of numbers": {"model_option": [1]}, "budget a string": {"budget": "24"},
    "budget a bool": {"budget": True}, "seed a float": {"seed": 0.5}, "task null": {"task": None},
    "no_cache a string": {"no_cache": "yes"}, "param an object": {"param": {"k": 2}}, "missing model": "drop:model",
    "missing task": "drop:task", "max_seconds a string": {"max_seconds": "10"},
}


@pytest.mark.parametrize("name", CORRUPT)
def test_a_corrupt_cli_json_is_one_line(name, tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["optimize", "--task", str(reviews(tmp_path / "data.jsonl")), "--model", "toy:x", "--no-progress",
            "--budget", "24", "--run-dir", str(run_dir)]
    assert run_cli(argv, capsys)[0] == 0
    change = CORRUPT[name]
    if isinstance(change, dict):
        edit_cli_json(run_dir, **change)
    elif change.startswith("drop:"):
        saved = json.loads((run_dir / "cli.json").read_text())
        del saved[change[5:]]
        (run_dir / "cli.json").write_text(json.dumps(saved))
    else:
        (run_dir / "cli.json").write_text(change)
    code, _, err = run_cli(["optimize", "--resume", str(run_dir), "--no-progress"], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "cli.json" in err, err


@pytest.mark.parametrize("link", ["symbolic", "hard"])
def test_resume_never_writes_through_a_planted_link(link, tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["optimize", "--task", str(reviews(tmp_path / "data.jsonl")), "--model", "toy:x", "--no-progress",
            "--budget", "24", "--run-dir", str(run_dir)]
    assert run_cli(argv, capsys)[0] == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    names = ["trials.jsonl", "score.png", "result.json", "config.json", "cli.json", "best_candidate.json",
             "result.json.tmp", "config.json.tmp", "best_candidate.json.tmp"]
    for name in names:  # each file of the run directory becomes a link to a file elsewhere
        planted, target = run_dir / name, outside / name
        target.write_bytes(planted.read_bytes() if name == "cli.json" else b"precious")  # cli.json stays readable
        planted.unlink(missing_ok=True)
        planted.symlink_to(target) if link == "symbolic" else os.link(target, planted)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in outside.iterdir()}
    assert run_cli(["optimize", "--resume", str(run_dir), "--no-progress"], capsys)[0] == 0
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in outside.iterdir()}
    written = [name for name in before if before[name] != after[name]]
    print(f"\nfiles outside the run directory written through {link} links: {len(written)}")
    assert written == []
    assert json.loads((run_dir / "result.json").read_text())["metric_calls"] == 24  # the run itself was written
    assert not any((run_dir / name).is_symlink() for name in names[:6])


def test_no_secret_is_written_to_the_run_directory(servers, tmp_path, capsys, monkeypatch):
    legit, _ = servers
    canary = f"sk-canary-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    run_dir = finished_api_run(tmp_path, legit.url, capsys)
    assert any(canary in h.get("authorization", h.get("Authorization", "")) for h in legit.headers)
    text = "".join(p.read_bytes().decode("utf-8", "replace") for p in run_dir.rglob("*") if p.is_file())
    assert canary not in text
    code, _, err = run_cli(optimize_args(tmp_path / "data.jsonl", legit.url, tmp_path / "r2", "--model-option",
                                         f"api_key={canary}"), capsys)
    assert code == 2 and canary not in err and not (tmp_path / "r2" / "cli.json").exists()


@pytest.mark.parametrize("how", ["-vv", "OPENAI_LOG=debug"])
def test_a_key_echoed_by_the_server_never_reaches_the_log(how, servers, tmp_path):
    legit, _ = servers
    canary = f"sk-canary-{uuid.uuid4().hex}"
    legit.plan(then="echokey")
    env = {"OPENAI_API_KEY": canary, "PROMPTLIFT_CACHE": str(tmp_path / "cache")}
    if how == "OPENAI_LOG=debug":
        env["OPENAI_LOG"] = "debug"
    args = optimize_args(reviews(tmp_path / "data.jsonl"), legit.url, tmp_path / "run", "--budget", "24")
    process = spawn(args, env=env, verbose=2 if how == "-vv" else 0)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-2000:]
    assert canary in str(legit.headers[0])  # the key was sent, and echoed back
    assert "x-echo-authorization" in err  # debug logging of the SDK really was on
    print(f"\ncanary occurrences at {how}: {(out + err).count(canary)} in {len(err.splitlines())} log lines")
    assert (out + err).count(canary) == 0 and canary[10:26] not in out + err
