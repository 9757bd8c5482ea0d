"""A sweep worker in process, on the scripted test double (the numbers here mean nothing)."""

import json

import optuna
import pandas as pd
import pytest

from promptlift.backends import registry
from promptlift.bench import Sweep, load_config, parse_overrides, results, write_sweep_report
from promptlift.bench import sweep as sweep_module
from promptlift.bench.claims import DONE, FAILED, PENDING
from promptlift.bench.config import grid_cells
from promptlift.result import Result
from tests.bench.helpers import toy_config


@pytest.fixture(autouse=True)
def engine(monkeypatch):
    monkeypatch.setitem(registry.ENGINES, "benchtest", "tests.bench.engine:BenchEngine")
    monkeypatch.setattr(Result, "plot", lambda self, path=None: None)  # each run's own plot: not under test here


def small(tmp_path, *pairs, **overrides):
    path = toy_config(tmp_path, **{"budgets": [16], "seeds": [0, 1], **overrides})
    return load_config(path, parse_overrides(list(pairs)))


def trials(config):
    study = optuna.load_study(study_name=config.name, storage=config.storage_url)
    return study.get_trials(deepcopy=False)


def test_a_sweep_runs_every_cell_once_and_writes_the_report(tmp_path):
    config = small(tmp_path)
    sweep = Sweep(config, progress=False)
    summary = sweep.work()
    assert len(summary.ran) == 4 and not summary.failed
    assert Sweep(config, progress=False).work().ran == []  # finished cells are never run again
    done = trials(config)
    assert len(done) == 4 and all(t.state == optuna.trial.TrialState.COMPLETE for t in done)
    assert sorted(t.user_attrs["cell"] for t in done) == sorted(summary.ran)
    assert all(t.value == t.user_attrs["row"]["best_test"] for t in done)  # objective: best_test

    report = write_sweep_report(sweep)
    frame = pd.read_csv(config.output_dir / "results.csv")
    assert len(frame) == 4 and set(frame["optimizer"]) == {"fewshot", "fewshot-k4"}
    assert frame["metric_calls"].max() <= 16 and (frame["best_test"] >= 0).all()
    assert set(frame["cell"]) == set(summary.ran)
    assert pd.read_parquet(config.output_dir / "results.parquet").shape == frame.shape
    summary_csv = pd.read_csv(config.output_dir / "summary.csv")
    assert list(summary_csv["n"]) == [2, 2]
    text = report.read_text()
    assert "| toy | toy | task model | fewshot | 16 | 2 |" in text and "± " in text
    for png in ("test_scores.png", "score_vs_budget.png"):
        assert (config.output_dir / png).read_bytes()[:4] == b"\x89PNG"
    for cell in summary.ran:  # each cell's run directory lies under the sweep's output folder
        assert (config.output_dir / "cells" / cell / "result.json").is_file()
    assert results(sweep).shape[0] == 4


def test_ctrl_c_gives_the_running_cell_back(tmp_path, monkeypatch):
    config = small(tmp_path)
    real, calls = sweep_module.run_cell, []

    def interrupted_second(*args, **kwargs):  # test double: the real run_cell, but Ctrl-C on the second cell
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "run_cell", interrupted_second)
    sweep = Sweep(config, progress=False)
    with pytest.raises(KeyboardInterrupt):
        sweep.work()
    rows = sweep.claims.rows()
    assert [r["status"] for r in rows] == [DONE, PENDING, PENDING, PENDING]
    assert rows[1]["attempts"] == 0 and rows[1]["worker"] is None
    states = [(t.state.name, t.user_attrs.get("interrupted")) for t in trials(config)]
    assert states == [("COMPLETE", None), ("FAIL", True)]  # no trial left RUNNING
    monkeypatch.setattr(sweep_module, "run_cell", real)
    assert len(Sweep(config, progress=False).work().ran) == 3
    assert all(r["status"] == DONE for r in sweep.claims.rows())


def test_a_failing_cell_is_reported_and_the_rest_still_run(tmp_path):
    config = small(tmp_path, optimizers=[{"name": "fewshot", "params": {"k": 2}},
                                         {"name": "tests.bench.helpers:BrokenSearch", "label": "broken"}])
    sweep = Sweep(config, progress=False)
    summary = sweep.work()
    assert len(summary.ran) == 2 and len(summary.failed) == 2
    failed = [r for r in sweep.claims.rows() if r["status"] == FAILED]
    assert all("no_such" in r["error"] for r in failed)
    assert "## Failed cells" in write_sweep_report(sweep).read_text()
    assert Sweep(config, progress=False).work().failed == []  # failed cells wait for --retry-failed


def test_search_mode_samples_cells_from_the_space(tmp_path):
    config = small(tmp_path, search={"n_trials": 3, "sampler": "random"},
                   optimizers=[{"name": "fewshot", "space": {"k": {"low": 1, "high": 3}}}])
    sweep = Sweep(config, progress=False)
    assert len(sweep.work().ran) == 3
    done = trials(config)
    assert [t.state.name for t in done] == ["COMPLETE"] * 3
    assert all(1 <= t.params["fewshot.k"] <= 3 and t.params["seed"] in (0, 1) for t in done)
    rows = [r for r in sweep.claims.rows()]
    assert [r["cell"] for r in rows] == ["trial-0000", "trial-0001", "trial-0002"]
    for row, trial in zip(rows, done):
        assert row["spec"]["params"] == trial.params
        assert json.loads(json.dumps(row["result"]["params"]))["k"] == trial.params["fewshot.k"]


def test_peers_are_cells_like_any_other(tmp_path):
    pytest.importorskip("dspy")
    pytest.importorskip("gepa")
    config = small(tmp_path, seeds=[0], models=[{"spec": "benchtest:dspy", "label": "double"}],
                   optimizers=[{"name": "dspy:labeled"}, {"name": "gepa-package", "params": {"minibatch": 2}}])
    sweep = Sweep(config, progress=False)
    assert len(sweep.work().ran) == 2
    rows = {r["result"]["optimizer"]: r["result"] for r in sweep.claims.rows()}
    labeled, gepa = rows["dspy:labeled"], rows["gepa-package"]
    assert labeled["peer"] and 0 <= labeled["best_test"] <= 1 and labeled["best_val"] is None
    # LabeledFewShot makes no model call while compiling: the test evaluation is not counted as search
    assert labeled["metric_calls"] == 0 and labeled["lm_calls"] == 0 and labeled["tokens"] == 0
    assert labeled["baseline_test"] is not None and labeled["n_demos"] == 4
    # the gepa package checks its budget between iterations, so it may overshoot: counted as it ran
    assert gepa["metric_calls"] > 0 and gepa["tokens"] > 0 and 0 <= gepa["best_val"] <= 1
    assert gepa["peer.reported_metric_calls"] > 0 and gepa["lm_calls"] > 0
    assert (config.output_dir / "cells" / labeled["cell"] / "best_candidate.json").is_file()
    frame = results(sweep)
    assert "peer.parse_failures" in frame.columns


def test_results_with_mixed_peer_facts_still_write_parquet(tmp_path):
    from promptlift.bench.report import write_report

    rows = [{"cell": f"c{i}", "task": "t", "optimizer": "o", "model": "m", "proposer": None, "budget": "8",
             "budget_metric_calls": 8, "seed": i, "best_val": 0.5, "best_test": 0.5 + i / 10, "lift": 0.1,
             "baseline_test": 0.4, "metric_calls": 8, "lm_calls": 8, "tokens": 10, "dollars": None,
             "search_seconds": 1.0, "peer.note": [1.5, "text"][i]} for i in range(2)]
    cells = [{"cell": r["cell"], "status": DONE, "result": r} for r in rows]
    write_report(cells, tmp_path, name="mixed", storage="postgresql://user:secret@db.example/sweeps")
    frame = pd.read_parquet(tmp_path / "results.parquet")
    assert list(frame["peer.note"]) == ["1.5", "text"]
    report = (tmp_path / "report.md").read_text()
    assert "secret" not in report and "postgresql://user:***@db.example/sweeps" in report  # never a password
    assert "| t | m | task model | o | 8 | 2 | 0.400 | 0.500 ± 0.000 | 0.550 ± 0.071 |" in report
    page = (tmp_path / "report.html").read_text()  # the same tables as a self-contained page
    assert "<td>0.550 ± 0.071</td>" in page and 'src="data:image/png;base64,' in page and "secret" not in page


def test_a_multi_line_error_stays_on_one_report_line():
    from promptlift.types import one_line

    assert one_line("AdapterParseError: no JSON.\n\nLM Response: {task}\n") == "AdapterParseError: no JSON. LM Response: {task}"
    assert len(one_line("x" * 500)) == 300


def test_the_seed_is_scored_once_per_sweep_not_once_per_cell(tmp_path):
    from promptlift.bench.runner import build_task, score

    config = small(tmp_path)  # 2 optimizers x 2 seeds, one task and model: 4 cells, one baseline
    sweep = Sweep(config, progress=False)
    backend = sweep.pool.get(config.models[0])
    asked: list[dict] = []
    real = backend.complete  # test spy: records every request, then asks the real backend
    backend.complete = lambda requests: asked.extend(r.to_dict() for r in requests) or real(requests)
    assert len(sweep.work().ran) == 4
    task = build_task(config.tasks[0])
    seed_on_test = [task.render(task.seed, e).to_dict() for e in task.test]
    assert [asked.count(r) for r in seed_on_test] == [1] * len(task.test)  # one cell scored it, three read it
    rows = results(sweep)
    assert rows["baseline_test"].nunique() == 1
    assert rows["baseline_test"].iloc[0] == score(task, task.seed, backend, task.test)


def test_the_overview_has_a_row_per_optimizer_and_a_column_per_task_and_budget():
    from promptlift.bench.report import overview_table, results_frame, summary_frame

    def cell(optimizer, budget, seed, test, model="m"):
        return {"cell": f"{optimizer}-{budget}-{seed}", "task": "toy", "optimizer": optimizer, "model": model,
                "proposer": None, "budget": str(budget), "budget_metric_calls": budget, "seed": seed,
                "baseline_test": 0.5, "best_test": test, "search_seconds": 10.0 * seed + 10}

    rows = [cell("a", 10, 0, 0.6), cell("a", 10, 1, 0.8), cell("a", 30, 0, 0.9), cell("a", 30, 1, 0.9),
            cell("b", 10, 0, 0.7, model="n")]
    cells = [{"status": "done", "result": r} for r in rows]
    lines = overview_table(summary_frame(results_frame(cells))).splitlines()
    assert lines[0] == "| optimizer | toy @ 10 | toy @ 30 |"
    assert lines[2] == "| baseline (seed) | 0.500 | 0.500 |"
    assert lines[3] == "| a (m) | 0.700 ± 0.141 (15 s) | 0.900 ± 0.000 (15 s) |"
    assert lines[4] == "| b (n) | 0.700 ± 0.000 (10 s, 1 of 2 seeds) |  |"  # b never ran at 30 calls


def test_the_overview_keeps_a_row_for_an_optimizer_whose_cells_all_failed(tmp_path):
    from promptlift.bench.report import failures, overview_table, results_frame, summary_frame

    config = small(tmp_path)  # optimizers fewshot and fewshot-k4, budget 16, seeds 0 and 1
    cells = grid_cells(config)
    done, broken = [c for c in cells if c.label == "fewshot"], [c for c in cells if c.label == "fewshot-k4"]
    rows = [{"status": "done", "result": {"cell": c.id, "task": c.task.key, "optimizer": c.label, "model": c.model.key,
                                          "proposer": None, "budget": "16", "budget_metric_calls": 16, "seed": c.seed,
                                          "baseline_test": 0.5, "best_test": 0.6, "search_seconds": 3.0}} for c in done]
    rows += [{"status": "failed", "spec": {"cell": c.to_dict()}, "error": f"AdapterParseError: no JSON (seed {c.seed})"}
             for c in broken]
    rows.append({"status": "failed", "spec": {"cell": done[0].to_dict()}, "error": "ValueError: boom"})
    lines = overview_table(summary_frame(results_frame(rows)), failures(rows)).splitlines()
    assert lines[3] == "| fewshot | 0.600 ± 0.000 (3 s, 1 failed) |"
    assert lines[4] == "| fewshot-k4 | failed (2 × AdapterParseError) |"


def test_the_sweep_bar_rates_only_the_cells_finished_since_it_opened():
    from promptlift.bench.progress import SweepBar

    class FakeClaims:  # test double: a claim table with 120 of 144 cells finished before this worker started
        done = 120

        def counts(self):
            return {"pending": 144 - self.done - 2, "running": 2, "done": self.done, "failed": 0}

    claims = FakeClaims()
    with SweepBar(claims, "standard") as bar:
        claims.done = 121
        bar.refresh()
        meter = bar._bar.format_dict
        assert (meter["n"], meter["initial"], meter["total"]) == (121, 120, 144)


def test_a_misspelt_optimizer_fails_the_sweep_before_any_cell_or_storage(tmp_path):
    from promptlift.errors import ConfigError

    config = small(tmp_path, optimizers=[{"name": "fewshot", "params": {"k": 2}}, {"name": "fewshott"}])
    with pytest.raises(ConfigError, match="optimizer 'fewshott': Unknown optimizer 'fewshott'"):
        Sweep(config, progress=False)
    assert not config.output_dir.exists()
