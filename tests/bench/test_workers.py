"""Several ``promptlift bench`` processes on one SQLite storage (scripted test double as the model)."""

import signal

import optuna

from promptlift.bench.claims import DONE, RUNNING, Claims
from tests.bench.helpers import start_worker, toy_config, wait_for


def claim_rows(config_dir):
    table = Claims(f"sqlite:///{config_dir / 'out' / 'sweep.db'}", "toy")
    try:
        return table.rows()
    finally:
        table.close()


def study_trials(config_dir):
    study = optuna.load_study(study_name="toy", storage=f"sqlite:///{config_dir / 'out' / 'sweep.db'}")
    return study.get_trials(deepcopy=False)


def test_two_workers_share_a_sweep_and_no_cell_runs_twice(tmp_path):
    gate = tmp_path / "go"
    config = toy_config(tmp_path, budgets=[12], seeds=[0, 1, 2],
                        models=[{"spec": "benchtest:toy", "label": "toy", "options": {"gate": str(gate)}}])
    workers = [start_worker(config, "--no-report", log=tmp_path / f"w{i}.log") for i in range(2)]
    try:
        # each worker blocks in its first cell until the gate opens: both are in the sweep at once
        wait_for(lambda: sum(r["status"] == RUNNING for r in claim_rows(tmp_path)) == 2, what="two running cells")
        gate.touch()
        codes = [w.wait(timeout=180) for w in workers]
    finally:
        for w in workers:
            w.kill()
    assert codes == [0, 0], [(tmp_path / f"w{i}.log").read_text()[-2000:] for i in range(2)]
    rows = claim_rows(tmp_path)
    assert len(rows) == 6 and all(r["status"] == DONE and r["attempts"] == 1 for r in rows)
    assert len({r["worker"] for r in rows}) == 2  # both workers ran cells
    trials = study_trials(tmp_path)
    cells = [t.user_attrs["cell"] for t in trials]
    assert sorted(cells) == sorted(r["cell"] for r in rows)  # one Optuna trial per cell: none ran twice
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert {t.user_attrs["claim"]["worker"] for t in trials} == {r["worker"] for r in rows}


def test_a_killed_workers_cell_is_run_again(tmp_path):
    config = toy_config(tmp_path, budgets=[12], seeds=[0, 1], lease_seconds=3)
    hung = start_worker(config, "--no-report", env={"BENCHTEST_HANG": "1"}, log=tmp_path / "hung.log")
    try:
        stuck = wait_for(lambda: [r for r in claim_rows(tmp_path) if r["status"] == RUNNING and r["trial_number"] is not None],
                         what="the first worker to start a cell")[0]
        hung.send_signal(signal.SIGKILL)
        hung.wait(timeout=30)
    finally:
        hung.kill()
    rescuer = start_worker(config, "--wait", "--no-report", log=tmp_path / "rescuer.log")
    try:
        code = rescuer.wait(timeout=180)
    finally:
        rescuer.kill()
    assert code == 0, (tmp_path / "rescuer.log").read_text()[-2000:]
    rows = {r["cell"]: r for r in claim_rows(tmp_path)}
    assert all(r["status"] == DONE for r in rows.values())
    again = rows[stuck["cell"]]
    assert again["attempts"] == 2 and again["worker"] != stuck["worker"]
    assert all(r["attempts"] == 1 for cell, r in rows.items() if cell != stuck["cell"])
    trials = study_trials(tmp_path)
    by_cell = {}
    for t in trials:
        by_cell.setdefault(t.user_attrs["cell"], []).append(t.state.name)
    assert by_cell[stuck["cell"]] == ["FAIL", "COMPLETE"]  # the dead attempt's trial is closed, not left RUNNING
    assert all(states == ["COMPLETE"] for cell, states in by_cell.items() if cell != stuck["cell"])


def test_ctrl_c_leaves_the_study_consistent(tmp_path):
    config = toy_config(tmp_path, budgets=[12], seeds=[0])
    worker = start_worker(config, env={"BENCHTEST_HANG": "1"}, log=tmp_path / "w.log")
    try:  # as soon as the cell is claimed: its trial may not be open yet, the interrupt waits until it is
        wait_for(lambda: [r for r in claim_rows(tmp_path) if r["status"] == RUNNING], what="a claimed cell")
        worker.send_signal(signal.SIGINT)
        code = worker.wait(timeout=60)
    finally:
        worker.kill()
    assert code == 130, (tmp_path / "w.log").read_text()[-2000:]
    rows = claim_rows(tmp_path)
    assert [(r["status"], r["attempts"], r["worker"]) for r in rows] == [("pending", 0, None)] * 2
    trials = study_trials(tmp_path)
    assert [(t.state.name, t.user_attrs.get("interrupted")) for t in trials] == [("FAIL", True)]
