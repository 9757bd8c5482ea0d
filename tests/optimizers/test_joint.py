import dataclasses

import pytest

from promptlift import Budget, ScriptedBackend
from promptlift.callbacks import Callback
from promptlift.errors import ConfigError
from promptlift.optimizers.joint import STUDY_FILE, JointSearch, grounded_prompt
from promptlift.testing import OptimizerContract
from promptlift.testing.doubles import keyword_script, toy_task


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path / "cache"))


def proposer_script(request):
    """Task-model answers from the keyword double; proposals mention 'sentiment' for some tips."""
    if not request.choices and "Write an instruction" in request.messages[-1].content:
        prompt = request.messages[-1].content
        return "Instruction: Tell the sentiment of the review." if "short" in prompt else "Label the review."
    return keyword_script(request)


def backend() -> ScriptedBackend:
    return ScriptedBackend(proposer_script, name="mipro-double")


def small(**changes):
    """A small search over instructions and demos only (the keyword double has no label bias)."""
    params = dict(n_instructions=3, n_demo_sets=3, k=2, bootstrap_size=10, minibatch_size=5, full_eval_every=4,
                  formats=("chat",), calibrate=None)
    return JointSearch(**(params | changes))


class TestJointSearchContract(OptimizerContract):
    def make(self):
        return small()

    def make_invalid(self):
        return JointSearch(minibatch_size=0)

    def run(self, tmp_path, seed=0, budget=None, run_dir=None, **options):
        return self.make().optimize(toy_task(), backend(), budget=Budget(metric_calls=budget or self.budget),
                                    seed=seed, cache=None, run_dir=run_dir, **options)


def test_components_are_searched_on_minibatches_and_validated_in_full():
    result = small().optimize(toy_task(), backend(), budget=200, cache=None)
    mini = [t for t in result.trials if t.role == "minibatch"]
    full = [t for t in result.trials if t.role == "val"][1:]
    assert mini and all(len(t.scores) == 5 for t in mini)
    assert full and all(len(t.scores) == 20 for t in full)
    instructions = {t.candidate.instruction for t in mini}
    assert "Tell the sentiment of the review." in instructions and "Classify the review." in instructions
    assert {len(t.candidate.demos) for t in mini} == {0, 2}
    assert result.best.mean == 1.0 and result.baseline.mean == 0.5


def test_proposed_instructions_carry_their_proposal_cost_and_the_seed_none():
    result = small().optimize(toy_task(), backend(), budget=200, cache=None)
    seed = toy_task().seed.instruction
    proposed = [t for t in result.trials if t.candidate.instruction != seed]
    assert proposed and all(t.proposal is not None and t.proposal.calls == 1 for t in proposed)
    assert all(t.proposal is None for t in result.trials if t.candidate.instruction == seed)


def test_by_default_a_classification_task_searches_both_formats_calibrated():
    result = JointSearch(n_instructions=1, n_demo_sets=2, k=2, bootstrap_size=0, minibatch_size=5,
                         n_startup_trials=20).optimize(toy_task(), backend(), budget=120, cache=None, seed=1)
    mini = [t for t in result.trials if t.role == "minibatch"]
    assert {t.candidate.format for t in mini} == {"chat", "plain"}
    assert all(len(t.candidate.calibration) == 2 for t in mini)


def test_auto_components_fall_back_to_the_seed_for_a_generation_task():
    from promptlift import calibration, formats

    task = dataclasses.replace(toy_task(), choices=())
    assert formats.resolve_option(backend(), task, "auto") == (task.seed.format,)
    assert calibration.resolve_option(task, "auto") is None
    assert formats.resolve_option(backend(), toy_task(), "auto") == ("chat", "plain")
    assert calibration.resolve_option(toy_task(), "auto") == "contextual"


def test_the_proposer_is_grounded_in_the_task_and_examples():
    task = toy_task()
    prompt = grounded_prompt(task, task.train[:2], "Be brief.")
    assert "positive, negative" in prompt and task.train[0].inputs["review"] in prompt
    assert "Current instruction: Classify the review." in prompt and "Tip: Be brief." in prompt


def test_study_is_stored_in_the_run_dir_and_an_interrupted_run_resumes(tmp_path):
    whole = small().optimize(toy_task(), backend(), budget=200, cache=None, run_dir=tmp_path / "whole")

    class StopAfter(Callback):
        def __init__(self, n):
            self.n = n

        def on_trial(self, run, trial):
            if trial.number == self.n:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        small().optimize(toy_task(), backend(), budget=200, cache=None, run_dir=tmp_path / "cut",
                         callbacks=[StopAfter(7)])
    assert (tmp_path / "cut" / STUDY_FILE).is_file()
    import optuna

    stored = optuna.load_study(study_name=None, storage=f"sqlite:///{tmp_path / 'cut' / STUDY_FILE}")
    finished = [t for t in stored.trials if t.state.name == "COMPLETE"]
    assert 0 < len(finished) < sum(t.role == "minibatch" for t in whole.trials)
    resumed = small().optimize(toy_task(), backend(), budget=200, cache=None, run_dir=tmp_path / "cut")
    assert [t.candidate for t in resumed.trials] == [t.candidate for t in whole.trials]
    assert [t.example_ids for t in resumed.trials] == [t.example_ids for t in whole.trials]
    assert resumed.best.candidate == whole.best.candidate


def test_a_killed_run_leaves_no_running_trial_after_resume(tmp_path):
    import optuna

    whole = small().optimize(toy_task(), backend(), budget=200, cache=None, run_dir=tmp_path / "whole")
    run_dir = tmp_path / "cut"
    small().optimize(toy_task(), backend(), budget=60, cache=None, run_dir=run_dir)
    storage = f"sqlite:///{run_dir / STUDY_FILE}"
    optuna.load_study(study_name=None, storage=storage).ask()  # what a SIGKILL mid-trial leaves: a RUNNING trial
    resumed = small().optimize(toy_task(), backend(), budget=200, cache=None, run_dir=run_dir)
    states = [t.state.name for t in optuna.load_study(study_name=None, storage=storage).trials]
    assert "RUNNING" not in states and states.count("FAIL") == 1
    assert resumed.best.candidate == whole.best.candidate


def test_a_linked_study_file_is_refused(tmp_path):
    outside = tmp_path / "elsewhere.sqlite3"
    outside.write_bytes(b"")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / STUDY_FILE).symlink_to(outside)
    with pytest.raises(ConfigError, match="is a symbolic link"):
        small().optimize(toy_task(), backend(), budget=200, cache=None, run_dir=tmp_path / "run")
    assert outside.read_bytes() == b""


def test_formats_are_a_searched_component():
    result = small(formats=("chat", "plain")).optimize(toy_task(), backend(), budget=240, cache=None)
    assert {t.candidate.format for t in result.trials if t.role == "minibatch"} == {"chat", "plain"}


def test_bad_parameter_is_named():
    with pytest.raises(ConfigError, match="The 'n_demo_sets' parameter of JointSearch must be an int >= 1"):
        JointSearch(n_demo_sets=0)


def test_the_old_module_path_and_the_registry_name_mipro_still_give_joint_search():
    from promptlift.optimizers import mipro
    from promptlift.optimizers.registry import OPTIMIZERS, get_optimizer

    assert mipro.JointSearch is JointSearch and mipro.STUDY_FILE == STUDY_FILE
    assert OPTIMIZERS["mipro"] == "promptlift.optimizers.joint:JointSearch"
    assert type(get_optimizer("mipro", max_trials=3)) is JointSearch and JointSearch.name == "mipro"
