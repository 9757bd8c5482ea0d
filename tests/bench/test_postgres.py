"""Sweeps on a real PostgreSQL server (started by the suite): same scores as SQLite, readable by
Optuna's own tools, and a database restart mid-sweep waited out (scripted test double as the model)."""

import json
import re
import time

import optuna
import pandas as pd
import pytest

from promptlift.backends import registry
from promptlift.bench import Sweep, load_config, write_sweep_report
from promptlift.bench.claims import DONE
from promptlift.bench.report import environment_lines
from promptlift.bench.versions import PACKAGES, mixed_versions
from promptlift.cli import main
from promptlift.result import Result
from tests.bench.helpers import cell_rows, completions, start_worker, study_trials, toy_config, wait_for

pytestmark = pytest.mark.integration
SCORES = ["baseline_val", "best_val", "baseline_test", "best_test", "lift", "metric_calls"]


@pytest.fixture
def engine(monkeypatch):
    monkeypatch.setitem(registry.ENGINES, "benchtest", "tests.bench.engine:BenchEngine")
    monkeypatch.setattr(Result, "plot", lambda self, path=None: None)


def scores(output_dir):
    frame = pd.read_csv(output_dir / "results.csv")
    return frame.set_index("cell")[SCORES].sort_index()


def test_a_sweep_on_postgresql_scores_as_on_sqlite_and_optuna_and_its_dashboard_read_it(tmp_path, pg_url, engine, capsys):
    path = toy_config(tmp_path, budgets=[12], seeds=[0, 1])
    lite = load_config(path, {"output": str(tmp_path / "lite")})
    served = load_config(path, {"output": str(tmp_path / "pg"), "storage": pg_url})
    for config in (lite, served):
        sweep = Sweep(config, progress=False)
        assert len(sweep.work().ran) == 4
        write_sweep_report(sweep)
        sweep.close()
    pd.testing.assert_frame_equal(scores(tmp_path / "pg"), scores(tmp_path / "lite"))

    # optuna-dashboard opens the same URL: each cell's scores and config are in its trial's attributes
    trials = optuna.load_study(study_name="toy", storage=pg_url).get_trials(deepcopy=False)
    rows = {r["cell"]: r for r in cell_rows(pg_url)}
    assert sorted(t.user_attrs["cell"] for t in trials) == sorted(rows)
    for trial in trials:
        row = rows[trial.user_attrs["cell"]]["result"]
        assert trial.user_attrs["row"]["best_test"] == row["best_test"] == trial.value
        assert trial.user_attrs["claim"]["config"] == rows[trial.user_attrs["cell"]]["spec"]["cell"]
        assert set(trial.user_attrs["versions"]) == {"python", *PACKAGES}
        assert row["versions"] == trial.user_attrs["versions"] and row["host"] == trial.user_attrs["claim"]["host"]

    studies = dashboard(pg_url, "/api/studies")["study_summaries"]
    detail = dashboard(pg_url, f"/api/studies/{studies[0]['study_id']}")
    assert [s["study_name"] for s in studies] == ["toy"] and len(detail["trials"]) == 4
    for shown in detail["trials"]:
        attrs = {a["key"]: a["value"] for a in shown["user_attrs"]}
        row = rows[attrs["cell"]]
        assert json.loads(attrs["row"])["best_test"] == row["result"]["best_test"]  # whole, not cut at 1,024
        assert json.loads(attrs["claim"])["config"] == row["spec"]["cell"]

    report = (tmp_path / "pg" / "report.md").read_text()
    assert "- versions: python " in report and "optuna " + optuna.__version__ in report
    assert "mixed versions" not in report and "postgresql+psycopg://postgres@127.0.0.1" in report

    assert main(["bench", str(path), "--storage", pg_url, "--status"]) == 0
    hosts, cells = capsys.readouterr().out.split("\n\n")
    assert hosts.splitlines()[0].split() == ["host", "workers", "running", "done", "failed", "re-runs"]
    assert hosts.splitlines()[2].split()[1:] == ["1", "0", "4", "0", "0"]  # one host, one worker
    assert len(cells.splitlines()) == 2 + 4


def dashboard(url, path):
    """GET ``path`` from optuna-dashboard's own WSGI app on the storage URL (in process, no server)."""
    from wsgiref.util import setup_testing_defaults

    import optuna_dashboard

    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    status = []
    body = b"".join(optuna_dashboard.wsgi(url)(environ, lambda code, headers, exc_info=None: status.append(code)))
    assert status == ["200 OK"], body[:500]
    return json.loads(body)


def test_the_report_flags_cells_that_ran_under_different_versions():
    def cell(optuna_version, host):
        versions = {"python": "3.11.2", "optuna": optuna_version, "torch": "2.13.0"}
        return {"cell": host, "status": DONE, "attempts": 1, "worker": f"{host}:1:a",
                "result": {"versions": versions, "host": host}}

    cells = [cell("5.0.0", "a"), cell("5.0.0", "b"), cell("4.5.0", "c")]
    assert mixed_versions(c["result"] for c in cells) == {"optuna": {"5.0.0": 2, "4.5.0": 1}}
    lines = environment_lines(cells)
    assert lines[0] == "- **mixed versions**: optuna 5.0.0 (2 cells), 4.5.0 (1 cells)"
    assert lines[1] == "- versions: python 3.11.2, torch 2.13.0"
    assert lines[2] == "- hosts: a (1 done), b (1 done), c (1 done)"
    assert not any("mixed" in line for line in environment_lines(cells[:2]))


def gated(tmp_path, **overrides):
    """8 cells on the scripted double; every worker's first answer waits for the file ``go``."""
    model = {"spec": "benchtest:toy", "label": "toy", "options": {"gate": str(tmp_path / "go"), "delay": 0.2}}
    return toy_config(tmp_path, **{"budgets": [12], "seeds": [0, 1, 2, 3], "models": [model], **overrides})


def test_workers_wait_out_a_database_restart_and_no_cell_is_lost_or_doubled(tmp_path, postgres, pg_url):
    config = gated(tmp_path)
    logs = [tmp_path / f"w{i}.log" for i in range(2)]
    workers = [start_worker(config, "--storage", pg_url, "--wait", "--no-report", log=log) for log in logs]
    try:  # both workers hold a cell whose result they must record while the database is away
        wait_for(lambda: sum(r["status"] == "running" and r["trial_number"] is not None
                             for r in cell_rows(pg_url)) == 2, what="two running cells")
        postgres.stop()
        (tmp_path / "go").touch()
        wait_for(lambda: all("database unreachable" in log.read_text() for log in logs), what="both workers retrying")
        time.sleep(5)  # the outage goes on (the benchmark's is 30 s); no assertion depends on its length
        postgres.start()
        codes = [w.wait(timeout=180) for w in workers]
    finally:
        for w in workers:
            w.kill()
    texts = [log.read_text() for log in logs]
    assert codes == [0, 0], [t[-2000:] for t in texts]
    rows = cell_rows(pg_url)
    assert len(rows) == 8 and all(r["status"] == DONE and r["attempts"] == 1 for r in rows)  # none lost, none re-run
    assert set(completions(study_trials(pg_url)).values()) == {1} and len(completions(study_trials(pg_url))) == 8
    for text in texts:
        retries = [line for line in text.splitlines() if "database unreachable during" in line]
        assert retries and all("retry" in line and "of 300 s allowed" in line for line in retries)
        assert "database reachable again after" in text and "Traceback" not in text
        assert "connection" in retries[0].lower()  # the driver's own error, not its wrapper's


def test_a_worker_past_its_wait_limit_stops_with_one_line_and_its_cell_returns_to_the_pool(tmp_path, postgres,
                                                                                         pg_url):
    config = gated(tmp_path, seeds=[0], db_wait_seconds=2, lease_seconds=4)
    worker = start_worker(config, "--storage", pg_url, "--no-report", log=tmp_path / "w.log")
    try:
        held = wait_for(lambda: [r for r in cell_rows(pg_url) if r["status"] == "running" and r["trial_number"] is not None],
                        what="a running cell")[0]
        postgres.stop()
        (tmp_path / "go").touch()  # the cell finishes, but its result cannot be recorded
        code = worker.wait(timeout=120)
    finally:
        worker.kill()
        postgres.start()
    text = (tmp_path / "w.log").read_text()
    errors = [line for line in text.splitlines() if line.startswith("promptlift bench: error:")]
    assert code == 3 and len(errors) == 1 and "Traceback" not in text, text[-2000:]
    down = re.search(r"has been unreachable for (\d+) s \(db_wait_seconds: 2\)", errors[0])
    assert down and int(down[1]) >= 2, errors[0]  # the last connection attempt may end past the limit
    assert f"cell {held['cell']} returns to the pool when its lease runs out (4 s)" in errors[0]

    rescuer = start_worker(config, "--storage", pg_url, "--wait", "--no-report", log=tmp_path / "r.log")
    try:
        assert rescuer.wait(timeout=180) == 0, (tmp_path / "r.log").read_text()[-2000:]
    finally:
        rescuer.kill()
    rows = {r["cell"]: r for r in cell_rows(pg_url)}
    assert all(r["status"] == DONE for r in rows.values())
    assert rows[held["cell"]]["attempts"] == 2 and rows[held["cell"]]["worker"] != held["worker"]
    states = sorted(t.state.name for t in study_trials(pg_url) if t.user_attrs["cell"] == held["cell"])
    assert states == ["COMPLETE", "FAIL"]  # the abandoned attempt's trial is closed, the cell recorded once
