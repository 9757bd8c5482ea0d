"""GEPA at full strength, on test doubles: P parents x N children per step (proposer calls in one
batch, children scored in one batch, exact metric-call accounting), the acceptance criterion, the
confidence in the reflection feedback, and what each proposal cost (``Trial.proposal``).

The task model is the keyword ScriptedBackend double (right when the prompt says 'sentiment');
the proposers are ScriptedBackend doubles that log the size of every batch they are sent.
"""

from __future__ import annotations

import pytest

from promptlift import Budget, Candidate, Example, Result, Run, ScriptedBackend
from promptlift.errors import BudgetExhausted, ConfigError
from promptlift.optimizers.gepa import GEPA
from promptlift.optimizers.reflection import Outcome, confidence, format_records, records
from promptlift.run import Job
from promptlift.testing import OptimizerContract
from promptlift.testing.doubles import keyword_script, toy_task
from promptlift.types import Completion


class BatchLoggingDouble(ScriptedBackend):
    """A ScriptedBackend test double that records the size of each batch it is sent."""

    def __init__(self, script, **kw) -> None:
        super().__init__(script, **kw)
        self.sizes: list[int] = []

    def complete(self, requests):
        self.sizes.append(len(requests))
        return super().complete(requests)


def distinct_proposer() -> BatchLoggingDouble:
    """Every draw a new usable instruction; the even draws say 'sentiment' (they lift the toy task)."""
    def answer(request):
        word = "sentiment" if request.sample % 2 == 0 else "tone"
        return f"Judge the {word} of review {request.sample} carefully, then answer."
    return BatchLoggingDouble(answer, name="proposer")


def run_gepa(gepa: GEPA, *, budget: int = 200, prop=None, task_model=None, seed: int = 0) -> Result:
    return gepa.optimize(toy_task(), task_model or BatchLoggingDouble(keyword_script, name="toy"),
                         budget=Budget(metric_calls=budget), seed=seed, cache=None,
                         proposer=prop if prop is not None else distinct_proposer())


# --- P x N ---------------------------------------------------------------------------------
def test_a_step_sends_its_p_times_n_proposer_calls_as_one_batch():
    prop = distinct_proposer()
    run_gepa(GEPA(parents_per_step=2, children_per_parent=3, merge=False), prop=prop)
    assert prop.sizes[0] == 6  # every draw usable: one round of 2 x 3 requests
    assert max(prop.sizes) == 6


def test_the_children_are_scored_on_their_minibatches_in_one_batch():
    task_model = BatchLoggingDouble(keyword_script, name="toy")
    result = run_gepa(GEPA(parents_per_step=2, children_per_parent=3, merge=False), task_model=task_model)
    first_children = [t for t in result.trials if t.info.get("of") == "child" and t.info["iteration"] == 0]
    assert len(first_children) == 6 and all(len(t.scores) == 3 for t in first_children)
    assert 18 in task_model.sizes  # 6 children x 3 examples, one backend call
    numbers = [t.number for t in first_children]
    assert numbers == list(range(numbers[0], numbers[0] + 6))  # recorded together, in order


@pytest.mark.parametrize("budget", [37, 61, 100, 173])
def test_parallel_steps_account_for_every_metric_call_and_never_exceed_the_budget(budget):
    result = run_gepa(GEPA(parents_per_step=2, children_per_parent=2), budget=budget)
    assert result.metric_calls <= budget
    assert sum(len(t.scores) for t in result.trials) == result.metric_calls
    assert result.trials[-1].metric_calls == result.metric_calls


def test_parallel_finds_the_lifting_instruction_and_links_children_to_their_parents():
    result = run_gepa(GEPA(parents_per_step=2, children_per_parent=2))
    assert result.best.mean == 1.0 and "sentiment" in result.best.candidate.instruction
    val_numbers = {t.number for t in result.trials if t.role == "val"}
    for trial in result.trials:
        if trial.info.get("stage") == "reflection":
            assert len(trial.parents) == 1 and trial.parents[0] in val_numbers


def test_one_parent_one_child_asks_one_proposal_at_a_time():
    prop = distinct_proposer()
    run_gepa(GEPA(), prop=prop)
    assert set(prop.sizes) == {1}


@pytest.mark.parametrize("name,value,message", [
    ("parents_per_step", 0, "an int >= 1"),
    ("children_per_parent", True, "an int >= 1"),
    ("acceptance", "loose", "one of"),
    ("confidence", "yes", "None or a bool"),
])
def test_bad_new_hyperparameters_name_themselves(name, value, message):
    with pytest.raises(ConfigError, match=rf"The '{name}' parameter of GEPA must be {message}"):
        GEPA(**{name: value})


# --- Run.evaluate_many -----------------------------------------------------------------------
def _run(budget: int, backend=None) -> Run:
    return Run(toy_task(), backend or BatchLoggingDouble(keyword_script, name="toy"),
               budget=Budget(metric_calls=budget))


def test_evaluate_many_records_what_separate_evaluations_would_in_one_backend_call():
    task = toy_task()
    a, b = task.seed, Candidate(instruction="Give the sentiment.")
    together, apart = _run(100), _run(100)
    batch = together.evaluate_many([Job(a, task.train[:3]), Job(b, task.train[3:7], "train", (0,), {"k": 1})])
    one = apart.evaluate(a, task.train[:3])
    two = apart.evaluate(b, task.train[3:7], parents=(0,), info={"k": 1})
    for mine, theirs in zip(batch, (one, two)):
        assert mine.trial.scores == theirs.trial.scores and mine.trial.usage == theirs.trial.usage
        assert mine.trial.parents == theirs.trial.parents and mine.trial.info == theirs.trial.info
    assert [t.metric_calls for t in together.trials] == [3, 7]
    assert together.backend.sizes == [7] and apart.backend.sizes == [3, 4]


def test_evaluate_many_reserves_the_whole_batch_before_any_call():
    run = _run(10)
    task = toy_task()
    with pytest.raises(BudgetExhausted, match="metric_calls"):
        run.evaluate_many([Job(task.seed, task.train[:6]), Job(task.seed, task.train[6:12])])
    assert run.trials == [] and run.backend.sizes == [] and run.metric_calls == 0


# --- acceptance ------------------------------------------------------------------------------
def _tie_proposer() -> ScriptedBackend:
    """Instructions that leave the keyword double's answers as they are (a tie with the seed)."""
    return ScriptedBackend(lambda r: f"Read review {r.sample} closely and give one word.", name="tie")


def test_strict_improvement_rejects_a_tie_and_improvement_or_equal_accepts_it():
    strict = run_gepa(GEPA(merge=False, patience=3), prop=_tie_proposer(), budget=80)
    loose = run_gepa(GEPA(merge=False, patience=3, acceptance="improvement_or_equal"), prop=_tie_proposer(),
                     budget=80)
    assert not [t for t in strict.trials if t.info.get("stage") == "reflection"]
    accepted = [t for t in loose.trials if t.info.get("stage") == "reflection"]
    assert accepted and all(t.info["minibatch"][0] == t.info["minibatch"][1] for t in accepted)


# --- confidence ------------------------------------------------------------------------------
def test_confidence_is_the_probability_of_the_answer_after_calibration():
    answer = Completion("negative", choice_logprobs=(-1.0, 0.0))
    assert confidence(Candidate(), answer) == pytest.approx(0.7311, abs=1e-4)
    assert confidence(Candidate(calibration=(-1.0, 0.0)), answer) == pytest.approx(0.5)
    assert confidence(Candidate(), Completion("free text")) is None


def test_verdicts_carry_the_models_confidence():
    examples = tuple(Example({"review": f"film {i}"}, "positive") for i in range(3))
    outcome = Outcome(examples, (0.0, 1.0, 1.0), ("negative", "positive", "positive"), ("", "", ""),
                      (0.97, 0.55, 0.9))
    text = format_records(toy_task(), records(outcome, 3))
    assert "Verdict: wrong: 97% sure of 'negative'" in text
    assert "Verdict: right, but only 55% sure" in text
    assert "Verdict: right (90% sure)" in text


def test_confidence_is_on_by_default_only_for_choice_tasks():
    assert GEPA()._confident(_run(10)) is True
    assert GEPA(confidence=False)._confident(_run(10)) is False


# --- what each proposal cost -------------------------------------------------------------------
def test_every_trial_of_a_proposed_instruction_carries_its_proposal_cost(tmp_path):
    prop = distinct_proposer()
    result = run_gepa(GEPA(parents_per_step=2, children_per_parent=2, merge=False), prop=prop)
    seed = toy_task().seed.instruction
    for trial in result.trials:
        if trial.candidate.instruction == seed:
            assert trial.proposal is None
        else:
            assert trial.proposal is not None and trial.proposal.calls == 1
            assert trial.proposal.prompt_tokens > 50 and trial.proposal.completion_tokens == 1
    again = Result.from_json(result.to_json(tmp_path / "result.json"))
    assert [t.proposal for t in again.trials] == [t.proposal for t in result.trials]
    frame = result.to_dataframe()
    proposed = frame[frame["instruction"] != seed]
    assert proposed["proposal_tokens"].gt(0).all() and frame[frame["instruction"] == seed]["proposal_tokens"].isna().all()


def test_a_proposal_retried_after_an_unusable_draw_costs_both_draws():
    prop = ScriptedBackend(lambda r: "Sure!" if r.sample % 2 else f"Judge the sentiment of review {r.sample}.")
    result = run_gepa(GEPA(merge=False, draws=2), prop=prop)
    child = next(t for t in result.trials if t.info.get("of") == "child")
    assert child.proposal is not None and child.proposal.calls == 2


class TestParallelGEPAContract(OptimizerContract):
    """The shipped contract with 2 parents x 2 children a step and a proposer double."""

    def make(self):
        return GEPA(parents_per_step=2, children_per_parent=2, minibatch_size=2, patience=5)

    def make_invalid(self):
        return GEPA(children_per_parent=0)

    def run(self, tmp_path, seed: int = 0, budget: int | None = None, run_dir=None, **options):
        return self.make().optimize(toy_task(), keyword_double(), budget=Budget(metric_calls=budget or self.budget),
                                    seed=seed, cache=None, run_dir=run_dir, proposer=distinct_proposer(), **options)


def keyword_double() -> ScriptedBackend:
    return ScriptedBackend(keyword_script, name="toy")


def test_evaluate_many_turns_away_an_over_cap_candidate_and_scores_the_rest_in_order():
    task = toy_task()
    run = Run(task, BatchLoggingDouble(keyword_script, name="toy"), budget=Budget(metric_calls=100),
              max_prompt_tokens=run_cap(task))
    long = Candidate(instruction="Give the sentiment. " * 60)
    out = run.evaluate_many([Job(long, task.train[:3]), Job(task.seed, task.train[3:6])])
    assert [e.trial.scored for e in out] == [False, True] and [t.number for t in run.trials] == [0, 1]
    assert run.metric_calls == 3 and run.backend.sizes == [3]


def run_cap(task) -> int:
    """A cap just over the seed's prompt tokens on the toy double."""
    probe = Run(task, keyword_double(), budget=Budget(metric_calls=1))
    return int(probe.prompt_tokens(task.seed)) + 20
