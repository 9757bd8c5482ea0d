"""``Trial.role`` (once ``Trial.split``): what a run scored a candidate for. Run directories and
result files written before the rename still load (test doubles: the toy task, the keyword
ScriptedBackend)."""

import json

from promptlift import Budget, Result
from promptlift.optimizers.fewshot import FewShot
from promptlift.result import Trial
from promptlift.run import Run
from promptlift.testing.doubles import scripted, toy_task


def old_format(data):
    """A Trial dict as versions before the rename wrote it: ``split``, no ``role``."""
    data = dict(data)
    data["split"] = data.pop("role")
    return data


def test_a_result_written_before_the_rename_loads_with_its_roles(tmp_path):
    result = FewShot(k=2, zero_shot=False).optimize(toy_task(), scripted(), budget=Budget(metric_calls=80),
                                                    run_dir=tmp_path / "run", cache=None)
    data = json.loads((tmp_path / "run" / "result.json").read_text())
    assert all("role" in t and "split" not in t for t in data["trials"])
    for key in ("trials", "test_trials"):
        data[key] = [old_format(t) for t in data[key]]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    loaded = Result.from_json(old)
    assert [t.role for t in loaded.trials] == [t.role for t in result.trials]
    assert {t.role for t in loaded.trials} >= {"val"} and loaded.best.role == "val"
    assert [t.role for t in loaded.test_trials] == ["test"] * len(result.test_trials)


def test_an_old_trials_line_loads_and_split_still_reads_the_role(tmp_path):
    FewShot(k=2, zero_shot=False).optimize(toy_task(), scripted(), budget=Budget(metric_calls=80),
                                           run_dir=tmp_path / "run", cache=None)
    lines = (tmp_path / "run" / "trials.jsonl").read_text().splitlines()
    trials = [Trial.from_dict(old_format(json.loads(line))) for line in lines]
    assert trials and trials[0].role == "val" and trials[0].split == "val"
    assert [t.to_dict() for t in trials] == [json.loads(line) for line in lines]  # rewritten with "role"


def test_evaluate_takes_the_role_and_its_old_keyword():
    run = Run(toy_task(), scripted(), budget=Budget(metric_calls=100))
    examples = run.task.val[:4]
    assert run.evaluate(run.task.seed, examples, role="minibatch").trial.role == "minibatch"
    assert run.evaluate(run.task.seed, examples, split="merge").trial.role == "merge"
    assert run.evaluate(run.task.seed, examples).trial.role == "train"
    assert run.score(run.task.seed, run.task.test).role == "test"
    assert [t.role for t in run.val_trials()] == []
