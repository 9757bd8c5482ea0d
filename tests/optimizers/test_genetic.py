"""GeneticSearch: the contract suite (GA and DE), search behaviour on the toy double, plots."""

import math

import pytest

from promptlift import Budget, Request, ResponseCache, ScriptedBackend
from promptlift.errors import ConfigError
from promptlift.optimizers.genetic import GeneticSearch
from promptlift.optimizers.genetic_plots import plot_generations, population_history
from promptlift.optimizers.registry import get_optimizer
from promptlift.testing.doubles import keyword_script, scripted, toy_task
from promptlift.testing import OptimizerContract


class TestGeneticGAContract(OptimizerContract):
    def make(self):
        return GeneticSearch(mode="ga", population_size=4, minibatch_size=4)

    def make_invalid(self):
        return GeneticSearch(population_size=1)


class TestGeneticDEContract(OptimizerContract):
    def make(self):
        return GeneticSearch(mode="de", population_size=4, minibatch_size=4)

    def make_invalid(self):
        return GeneticSearch(mode="de", population_size=2)


def writer_script(request: Request):
    """A proposer double: any meta-prompt gets an instruction that names the sentiment."""
    return "New instruction: Decide the sentiment of the review."


def junk_script(request: Request):
    """A proposer double as poor as a tiny model can be: never a usable instruction."""
    return "ok"


@pytest.mark.parametrize("mode", ["ga", "de"])
def test_search_finds_demos_that_lift_the_toy_task_with_a_useless_proposer(mode):
    proposer = ScriptedBackend(junk_script, name="junk")
    result = GeneticSearch(mode=mode).optimize(toy_task(), scripted(), budget=300, proposer=proposer, cache=None)
    assert result.baseline.mean == 0.5
    assert result.best.mean == 1.0 and result.best_test == 1.0
    assert proposer.calls > 0  # it was asked, and the model-free operators carried the search


def test_proposer_instructions_are_used_when_usable():
    proposer = ScriptedBackend(writer_script, name="writer")
    optimizer = GeneticSearch(k=0, proposer_rate=1.0, population_size=3)
    result = optimizer.optimize(toy_task(), scripted(), budget=200, proposer=proposer, cache=None)
    assert result.best.mean == 1.0
    assert result.best_candidate.instruction == "Decide the sentiment of the review."
    assert result.best_candidate.demos == ()
    operators = {t.info.get("operator") for t in result.trials}
    assert "paraphrase" in operators
    assert all("Instruction 1:" in r.messages[-1].content or "Rewrite" in r.messages[-1].content
               for r in proposer.requests)


def test_instructions_the_proposer_wrote_carry_their_proposal_cost():
    proposer = ScriptedBackend(writer_script, name="writer")
    optimizer = GeneticSearch(k=0, proposer_rate=1.0, population_size=3)
    result = optimizer.optimize(toy_task(), scripted(), budget=200, proposer=proposer, cache=None)
    written = [t for t in result.trials if t.info.get("operator") in ("paraphrase", "lm")]
    assert written and all(t.proposal is not None and t.proposal.calls == 1 and t.proposal.prompt_tokens > 5
                           for t in written)
    assert result.trials[0].proposal is None  # the seed: no proposer call wrote it


def test_successive_halving_scores_children_on_growing_minibatches():
    task = toy_task()
    optimizer = GeneticSearch(population_size=6, minibatch_size=4, rungs=2, eta=2)
    result = optimizer.optimize(task, scripted(), budget=400, cache=None)
    demo_ids = {d.id for t in result.trials for d in t.candidate.demos}
    by_generation = {}
    for trial in result.trials[1:]:
        by_generation.setdefault(trial.info["generation"], []).append(trial)
        if trial.role == "train":
            assert not demo_ids & set(trial.example_ids)  # demos never double as scored examples
    complete = [g for g, ts in by_generation.items() if any(t.role == "val" for t in ts)]
    assert len(complete) >= 2 and complete == sorted(by_generation)  # no generation scored in vain
    for generation in complete:
        trials = by_generation[generation]
        rung0 = [t for t in trials if t.info["rung"] == 0]
        rung1 = [t for t in trials if t.info["rung"] == 1]
        val = [t for t in trials if t.role == "val"]
        assert all(len(t.scores) == 4 for t in rung0 + rung1) and all(t.info["rung"] == 2 for t in val)
        assert len(rung1) == math.ceil(len(rung0) / 2)
        assert 1 <= len(val) <= math.ceil(len(rung1) / 2)
        assert {t.candidate for t in val} <= {t.candidate for t in rung1} <= {t.candidate for t in rung0}
        spent = sum(len(t.scores) for t in trials)
        assert spent == optimizer.generation_cost(len(rung0), pool=20, val=len(task.val))
    assert result.metric_calls > 400 - optimizer.generation_cost(1, pool=20, val=len(task.val))


def test_without_rungs_every_child_is_validated():
    result = GeneticSearch(rungs=0, population_size=3, generations=1).optimize(
        toy_task(), scripted(), budget=1000, cache=None)
    assert all(t.role == "val" for t in result.trials)
    assert len(result.trials) == 1 + 2 + 3  # seed, initial paraphrases, one generation


def test_lineage_and_generation_are_recorded():
    result = GeneticSearch(population_size=4, minibatch_size=4).optimize(toy_task(), scripted(), budget=300, cache=None)
    val_numbers = {t.number for t in result.trials if t.role == "val"}
    frame = result.to_dataframe()
    assert "info.generation" in frame.columns
    assert frame["info.generation"].dropna().max() >= 1
    for trial in result.trials[1:]:
        assert trial.parents and set(trial.parents) <= val_numbers
        assert all(p < trial.number for p in trial.parents)
        assert {"generation", "rung", "operator", "mode"} <= set(trial.info)


@pytest.mark.parametrize("mode", ["ga", "de"])
def test_population_history_is_elitist_and_plots(tmp_path, mode):
    result = GeneticSearch(mode=mode, population_size=4, minibatch_size=4).optimize(
        toy_task(), scripted(), budget=400, cache=None)
    rows = population_history(result)
    assert [r["generation"] for r in rows] == sorted({t.info["generation"] for t in result.trials[1:]
                                                      if t.role == "val"})
    bests = [r["best"] for r in rows]
    assert bests == sorted(bests)  # elitism: the best never gets lost
    assert all(1 <= r["size"] <= 4 and r["mean"] <= r["best"] for r in rows)
    assert rows[-1]["best"] == result.best.mean
    val = {t.number: t.mean for t in result.trials if t.role == "val"}
    members = rows[-1]["members"]  # the key the committed benchmark rows hold: validation trial numbers
    assert len(members) == rows[-1]["size"] and max(val[n] for n in members) == result.best.mean
    plot_generations(result, tmp_path / "generations.png")
    assert (tmp_path / "generations.png").stat().st_size > 1000


def test_replay_from_the_cache_repeats_the_run(tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    optimizer = GeneticSearch(population_size=4, minibatch_size=4, proposer_rate=1.0)
    proposer = ScriptedBackend(writer_script, name="writer")
    first = optimizer.optimize(toy_task(), scripted(), budget=200, proposer=proposer, cache=cache)
    again = ScriptedBackend(keyword_script, name="toy")
    second = optimizer.optimize(toy_task(), again, budget=200, proposer=ScriptedBackend(writer_script, name="writer"),
                                cache=cache)
    assert [t.candidate for t in first.trials] == [t.candidate for t in second.trials]
    assert again.calls == 0 and second.cache_hits > 0


def test_run_dir_gets_the_generation_plot(tmp_path):
    GeneticSearch(population_size=3, minibatch_size=4).optimize(toy_task(), scripted(), budget=150, cache=None,
                                                           run_dir=tmp_path / "run")
    assert (tmp_path / "run" / "generations.png").stat().st_size > 1000


def test_budget_too_small_for_a_generation_stops_after_the_seed():
    result = GeneticSearch().optimize(toy_task(), scripted(), budget=Budget(metric_calls=25), cache=None)
    assert len(result.trials) == 1 and result.best == result.baseline


def test_registry_name_builds_it():
    assert isinstance(get_optimizer("genetic", mode="de", population_size=3), GeneticSearch)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"population_size": 1}, "The 'population_size' parameter of GeneticSearch must be an int >= 2. Got 1."),
        ({"mode": "es"}, "The 'mode' parameter of GeneticSearch must be one of ('ga', 'de'). Got 'es'."),
        ({"mode": "de", "population_size": 2}, "The 'population_size' parameter of GeneticSearch must be an int >= 3"),
        ({"selection": "rank"}, "The 'selection' parameter"),
        ({"eta": 1}, "The 'eta' parameter of GeneticSearch must be an int >= 2. Got 1."),
        ({"proposer_rate": 1.5}, "The 'proposer_rate' parameter of GeneticSearch must be a float in"),
        ({"k": True}, "The 'k' parameter"),
    ],
)
def test_bad_hyperparameters_name_themselves(params, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        GeneticSearch(**params)


def test_format_verbalizer_and_calibration_are_searched():
    optimizer = GeneticSearch(population_size=4, minibatch_size=4, formats=["chat", "plain"], verbalizers="auto",
                              calibrate="contextual")
    result = optimizer.optimize(toy_task(), scripted(), budget=400, cache=None)
    children = [t.candidate for t in result.trials[1:]]
    assert {c.format for c in children} == {"chat", "plain"}
    assert len({c.verbalizer for c in children}) >= 2
    assert all(len(c.calibration) == 2 for c in children)  # each child measured before scoring
    assert result.usage.calls > result.metric_calls  # the probes are LM calls outside trials


def test_plain_format_is_skipped_on_a_chat_only_backend():
    backend = ScriptedBackend(keyword_script, name="chat-only", raw_prompt=False)
    result = GeneticSearch(population_size=3, minibatch_size=4, formats=("chat", "plain")).optimize(
        toy_task(), backend, budget=200, cache=None)
    assert {t.candidate.format for t in result.trials} == {"chat"}


@pytest.mark.integration
def test_genetic_search_runs_on_the_real_default_model(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path / "cache"))
    pytest.importorskip("llama_cpp")
    from promptlift import get_task, load_backend

    try:
        backend = load_backend("llamacpp:smollm2")
    except Exception as exc:  # noqa: BLE001 - a missing model file skips, it does not fail
        pytest.skip(str(exc))
    task = get_task("sentiment", sizes=(6, 2, 2))
    optimizer = GeneticSearch(population_size=2, minibatch_size=2, rungs=1, generations=1, proposal_tokens=16,
                              proposer_rate=0.0, k=2)
    result = optimizer.optimize(task, backend, budget=16, run_dir=tmp_path / "run", cache=ResponseCache(tmp_path / "c"))
    assert result.metric_calls <= 16 and result.best_test is not None
    assert {t.info.get("generation") for t in result.trials[1:]} >= {0}
    assert any(r.get("operator") in {"paraphrase", "seed"} for r in (t.info for t in result.trials[1:]))
    assert result.usage.calls > result.metric_calls  # the proposer wrote at least the paraphrase
    plot_generations(result, tmp_path / "generations.png")


def test_generation_task_without_choices():
    import dataclasses

    task = dataclasses.replace(toy_task(), choices=(), metric="exact_match")
    result = GeneticSearch(population_size=4, minibatch_size=4).optimize(task, scripted(), budget=300, cache=None)
    assert result.best.mean == 1.0 and result.baseline.mean == 0.5
    assert all(len(t.candidate.demos) <= 4 for t in result.trials)


def test_initial_individuals_get_label_balanced_demo_sets():
    result = GeneticSearch(population_size=6, minibatch_size=4).optimize(toy_task(), scripted(), budget=200, cache=None)
    initial = [t.candidate for t in result.trials if t.info.get("operator") in ("seed", "paraphrase")]
    assert initial
    for candidate in initial:
        labels = [d.output for d in candidate.demos]
        assert len(labels) in (2, 4) and labels.count("positive") == labels.count("negative")
