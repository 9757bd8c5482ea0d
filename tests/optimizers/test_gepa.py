"""GEPA: the contract suite, the reflective loop on test doubles, and one real-model run.

The task model is the keyword ScriptedBackend double (right when the prompt says
'sentiment'); the proposer is a second ScriptedBackend whose answers are scripted per draw.
"""

from __future__ import annotations

import importlib.util

import pytest

from promptlift import Budget, Candidate, Example, ScriptedBackend, Task
from promptlift.errors import ConfigError
from promptlift.optimizers.gepa import GEPA
from promptlift.optimizers.registry import get_optimizer
from promptlift.testing.doubles import scripted, toy_task
from promptlift.testing import OptimizerContract

GOOD = "Decide the sentiment of the review: positive or negative."
ANSWERS = [
    "I'm sorry, I cannot improve that.",
    "Review: a good film number 3",
    GOOD,
    "Read the review carefully and answer with one word.",
    'Improved instruction: "Judge the overall sentiment of this review, positive or negative."',
]


def proposer(answers=ANSWERS, name="proposer") -> ScriptedBackend:
    """A proposer double: the n-th draw gets ``answers[n % len(answers)]``."""
    return ScriptedBackend(lambda request: answers[request.sample % len(answers)], name=name)


def optimize(gepa=None, *, budget=200, prop=None, seed=0, task=None, **kw):
    task = task or toy_task()
    return (gepa or GEPA()).optimize(task, scripted(), budget=Budget(metric_calls=budget), seed=seed,
                                     proposer=prop if prop is not None else proposer(), cache=None, **kw)


class TestGEPAContract(OptimizerContract):
    """The contract with the task model as its own proposer (it answers one word: unusable)."""

    def make(self):
        return GEPA(minibatch_size=2, patience=5)

    def make_invalid(self):
        return GEPA(minibatch_size=0)


class TestGEPAContractWithProposer(OptimizerContract):
    """The contract again, with a proposer double that writes usable instructions."""

    def make(self):
        return GEPA(minibatch_size=2, patience=5)

    def make_invalid(self):
        return GEPA(template="no placeholders")

    def run(self, tmp_path, seed: int = 0, budget: int | None = None, run_dir=None, **options):
        return self.make().optimize(toy_task(), scripted(), budget=Budget(metric_calls=budget or self.budget),
                                    seed=seed, cache=None, run_dir=run_dir, proposer=proposer(), **options)


def test_reflection_finds_the_instruction_that_lifts_the_toy_task():
    result = optimize()
    assert result.baseline.mean == 0.5
    assert result.best.mean == 1.0 and result.best_test == 1.0
    assert result.best.candidate.instruction == GOOD
    assert result.best.parents == (0,)


def test_child_is_validated_only_after_beating_its_parent_on_the_same_minibatch():
    result = optimize(GEPA(merge=False))
    trials = result.trials
    for trial in trials:
        if trial.info.get("stage") != "reflection":
            continue
        child = next(t for t in reversed(trials[: trial.number]) if t.info.get("of") == "child")
        assert child.candidate == trial.candidate and child.parents == trial.parents
        before, after = trial.info["minibatch"]
        assert after > before and after == sum(child.scores)


def test_unusable_proposals_cost_no_metric_calls_and_the_seed_is_kept():
    garbage = proposer(GARBAGE)
    result = optimize(GEPA(patience=4), prop=garbage)
    assert result.best.candidate == toy_task().seed
    assert all(t.info.get("of") != "child" for t in result.trials)
    assert result.stopped_by is None  # stopped by patience, not by the budget
    assert garbage.calls >= 4


def test_proposer_sees_instruction_examples_and_feedback():
    seen = []
    prop = ScriptedBackend(lambda r: seen.append(r.messages[-1].content) or GOOD, name="p")
    optimize(GEPA(merge=False, reflection_examples=2), prop=prop, budget=60)
    prompt = seen[0]
    assert '"Classify the review."' in prompt
    assert prompt.count("Review: a ") == 2  # two examples shown, the worst first
    assert "Correct answer: positive" in prompt
    # the toy double answers log-probs (-1, 0): softmax 73% for 'negative'
    assert "Verdict: wrong: 73% sure of 'negative' (expected 'positive', got 'negative')" in prompt


def test_confidence_can_be_switched_off():
    seen = []
    prop = ScriptedBackend(lambda r: seen.append(r.messages[-1].content) or GOOD, name="p")
    optimize(GEPA(merge=False, reflection_examples=2, confidence=False), prop=prop, budget=60)
    assert "Verdict: wrong (expected 'positive', got 'negative')" in seen[0] and "sure" not in seen[0]


def test_custom_template_is_used():
    seen = []
    prop = ScriptedBackend(lambda r: seen.append(r.messages[-1].content) or GOOD, name="p")
    template = "TASK <task>\nNOW <instruction>\nCASES\n<examples>\nBETTER:"
    optimize(GEPA(template=template), prop=prop, budget=60)
    assert seen[0].startswith("TASK toy\nNOW Classify the review.\nCASES\nReview: ")


def test_gepa_package_placeholders_are_accepted_and_filled():
    from promptlift.optimizers.reflection import build_prompt

    template = "old: <curr_param> data: <side_info>"
    GEPA(template=template)  # no ConfigError
    prompt = build_prompt(template, toy_task(), "Be brief.", [])
    assert prompt.startswith("old: Be brief. data: ") and "<side_info>" not in prompt


GARBAGE = ["I'm sorry, I cannot help.", "", "ok", "Review: a good film number 3 was fine"]


def test_scores_already_known_are_reused():
    result = optimize(GEPA(minibatch_size=8, patience=3), prop=proposer(GARBAGE), budget=200)
    scored = [e for t in result.trials if t.role == "train" for e in t.example_ids]
    assert len(scored) == len(set(scored)) == len(toy_task().train)  # each train example scored once
    assert result.stopped_by is None


def test_reuse_can_be_switched_off():
    result = optimize(GEPA(minibatch_size=8, reuse_scores=False), prop=proposer(GARBAGE), budget=200)
    assert all(len(t.scores) == 8 for t in result.trials if t.role == "train")
    assert sum(len(t.scores) for t in result.trials if t.role == "train") > len(toy_task().train)


def test_budget_stop_is_clean_and_exact():
    result = optimize(budget=45)
    assert result.metric_calls <= 45
    assert sum(len(t.scores) for t in result.trials) == result.metric_calls


def test_proposer_calls_go_through_the_cache(tmp_path):
    from promptlift import ResponseCache

    cache = ResponseCache(tmp_path / "cache.db")
    first_prop, second_prop = proposer(), proposer()
    task, gepa = toy_task(), GEPA()
    first = gepa.optimize(task, scripted(), budget=120, proposer=first_prop, cache=cache, seed=1)
    second = gepa.optimize(task, scripted(), budget=120, proposer=second_prop, cache=cache, seed=1)
    assert [t.candidate for t in first.trials] == [t.candidate for t in second.trials]
    assert first_prop.calls > 0 and second_prop.calls == 0


def _three_kind_task() -> Task:
    """Kinds a, b, c: the seed solves c, 'alpha' solves a only, 'beta' b only, both a and b."""
    examples = [Example({"text": f"{kind} item {i}"}, "yes", id=f"{kind}{i}") for i in range(16) for kind in "abc"]
    return Task(name="kinds", input_fields=("text",), output_field="label", train=examples[:24],
                val=examples[24:], metric="accuracy", choices=("yes", "no"),
                seed=Candidate(instruction="Answer the question."))


def _kind_script(request):
    system = request.messages[0].content if request.messages[0].role == "system" else ""
    kind = request.messages[-1].content.split(": ", 1)[1][0]
    plain = "alpha" not in system and "beta" not in system
    right = ("alpha" in system and kind == "a") or ("beta" in system and kind == "b") or (plain and kind == "c")
    return [0.0, -1.0] if right else [-1.0, 0.0]


def _branching_proposer(request):
    """From the seed: 'alpha' or 'beta' by turns; from anything else: chatter (unusable)."""
    if '"Answer the question."' not in request.messages[-1].content:
        return "Sure!"
    return f"Answer the question. Mind {('alpha', 'beta')[request.sample % 2]} cases, take {request.sample}."


def test_merge_combines_two_frontier_branches():
    result = GEPA(minibatch_size=4, patience=8).optimize(
        _three_kind_task(), ScriptedBackend(_kind_script), budget=400,
        proposer=ScriptedBackend(_branching_proposer), cache=None)
    merges = [t for t in result.trials if t.info.get("stage") == "merge"]
    assert merges, [dict(t.info) for t in result.trials]
    merged = merges[0]
    assert len(merged.parents) == 2 and merged.info["ancestor"] == 0
    assert merged.candidate.instruction.startswith("Answer the question. ")
    assert "alpha cases" in merged.candidate.instruction and "beta cases" in merged.candidate.instruction
    assert result.best.number == merged.number and result.best.mean == pytest.approx(2 / 3)
    check = result.trials[merged.number - 1]
    assert check.role == "merge" and check.parents == merged.parents


def test_registry_name_builds_gepa_with_parameters():
    gepa = get_optimizer("gepa", minibatch_size=4, merge=False)
    assert isinstance(gepa, GEPA) and gepa.minibatch_size == 4


@pytest.mark.parametrize("name,value,message", [
    ("minibatch_size", 0, "an int >= 1"),
    ("temperature", -1.0, r"a float in \[0, 2\]"),
    ("merge", "yes", "a bool"),
    ("template", "only <instruction>", "a str holding the placeholders"),
])
def test_bad_hyperparameters_name_themselves(name, value, message):
    with pytest.raises(ConfigError, match=rf"The '{name}' parameter of GEPA must be {message}"):
        GEPA(**{name: value})


def test_task_without_train_examples_is_refused():
    task = toy_task()
    bare = Task(name="bare", input_fields=task.input_fields, output_field=task.output_field, train=(),
                val=task.val, metric="accuracy", choices=task.choices, seed=task.seed)
    with pytest.raises(ConfigError, match="training examples"):
        optimize(task=bare)


def test_lineage_plot_draws_every_validated_candidate(tmp_path):
    from promptlift.lineage import depth, lineage, lineage_edges

    result = optimize()
    fig = lineage(result, tmp_path / "lineage.png")
    assert (tmp_path / "lineage.png").stat().st_size > 0 and fig is not None
    val = [t for t in result.trials if t.role == "val"]
    assert len(lineage_edges(result)) == sum(len(t.parents) for t in val)
    assert depth(result)[0] == 0 and max(depth(result).values()) >= 1


@pytest.mark.integration
@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed")
def test_real_default_model_as_task_and_proposer(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path / "cache"))
    from promptlift import load_backend
    from promptlift.tasks.builtin import get_task

    backend = load_backend("llamacpp:smollm2")
    task = get_task("sentiment", sizes=(4, 3, 3))
    result = GEPA(minibatch_size=2, draws=1, proposal_tokens=32, patience=2).optimize(
        task, backend, budget=Budget(metric_calls=12), cache=None, run_dir=tmp_path / "run")
    assert result.metric_calls <= 12 and result.usage.calls > result.metric_calls  # the proposer was asked
    assert result.best.role == "val" and result.best_test is not None
    assert (tmp_path / "run" / "result.json").is_file()


def test_calibrate_validates_the_calibrated_seed_and_measures_each_childs_own_bias():
    result = optimize(GEPA(calibrate="contextual"))
    first = result.trials[1]
    assert first.info.get("stage") == "calibrated seed" and first.parents == (0,)
    assert first.candidate == toy_task().seed.with_(calibration=first.candidate.calibration)
    assert len(first.candidate.calibration) == 2
    validated = [t for t in result.trials if t.info.get("stage") in ("reflection", "merge")]
    assert validated and all(len(t.candidate.calibration) == 2 for t in validated)


def test_calibrate_auto_leaves_a_generation_task_uncalibrated():
    base = toy_task()
    task = Task(name="gen", input_fields=base.input_fields, output_field=base.output_field, train=base.train,
                val=base.val, test=base.test, metric="exact_match", seed=base.seed)
    result = optimize(GEPA(calibrate="auto", patience=2), task=task, prop=proposer(GARBAGE))
    assert all(t.info.get("stage") != "calibrated seed" for t in result.trials)
    assert all(not t.candidate.calibration for t in result.trials)
