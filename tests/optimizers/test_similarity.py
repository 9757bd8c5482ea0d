import pytest

from promptlift import Candidate, Example, ScriptedBackend, Task
from promptlift.errors import ConfigError
from promptlift.optimizers.similarity import SimilarityFewShot
from promptlift.result import Result
from promptlift.tasks import retrieval
from promptlift.types import Retrieval
from promptlift.testing.doubles import scripted, toy_task
from promptlift.testing import OptimizerContract


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path / "cache"))


class TestSimilarityContract(OptimizerContract):
    def make(self):
        return SimilarityFewShot(ks=(1, 2), embedder="hashing")

    def make_invalid(self):
        return SimilarityFewShot(ks=(0,), embedder="hashing")


def _topic_task() -> Task:
    """Questions whose label is their topic word: a neighbour shares the topic (and the label)."""
    topics = {"river": "location", "year": "number", "author": "human"}
    ex = [Example({"question": f"which {word} {filler} {i}?"}, label, id=f"{word}{i}")
          for i in range(12) for word, label in topics.items() for filler in ["is it"]]
    return Task(name="topics", input_fields=("question",), train=ex[:18], val=ex[18:27], test=ex[27:],
                metric="accuracy", choices=("location", "number", "human"), seed=Candidate(instruction="Type?"))


def copy_last_demo(request):
    """A double that answers with the label of the demo nearest the input (the last one)."""
    assistants = [m.content for m in request.messages if m.role == "assistant"]
    label = assistants[-1] if assistants else "human"
    return [0.0 if c == label else -1.0 for c in request.choices]


def test_retrieved_demos_are_the_nearest_and_never_the_input_itself():
    task = _topic_task()
    spec = Retrieval(pool=task.train + task.val, k=3, embedder="hashing")
    for example in task.val:
        demos = retrieval.nearest(task, spec, example)
        assert len(demos) == 3 and example.id not in {d.id for d in demos}
        assert demos[-1].output == example.output  # the most similar comes last


def test_balanced_retrieval_spreads_labels():
    task = _topic_task()
    spec = Retrieval(pool=task.train, k=3, embedder="hashing", balanced=True)
    demos = retrieval.nearest(task, spec, task.val[0])
    assert sorted(d.output for d in demos) == sorted(task.choices)
    assert demos[-1].output == task.val[0].output


def test_knn_demos_beat_the_seed_and_the_candidate_round_trips(tmp_path):
    task = _topic_task()
    result = SimilarityFewShot(ks=(1, 3), embedder="hashing").optimize(
        task, ScriptedBackend(copy_last_demo), budget=60, cache=None, run_dir=tmp_path / "run")
    assert result.baseline.mean < 0.5 and result.best.mean == 1.0 and result.best_test == 1.0
    best = result.best.candidate
    assert best.retrieval is not None and best.demos == ()
    assert Candidate.from_dict(best.to_dict()) == best
    assert Result.from_json(tmp_path / "run" / "result.json").best.candidate == best


def test_grid_tries_every_k_before_repeating_one():
    result = SimilarityFewShot(ks=(1, 2, 4), embedder="hashing").optimize(toy_task(), scripted(), budget=100, cache=None)
    tried = [(t.info["k"], t.info["balanced"]) for t in result.trials[1:]]
    assert tried == [(1, False), (2, False), (4, False), (1, True)]  # 5 x 20 val calls fill the budget


def test_unknown_embedder_is_named():
    with pytest.raises(ConfigError, match="'embedder' parameter of SimilarityFewShot"):
        SimilarityFewShot(embedder="bert")


@pytest.mark.integration
def test_minilm_embedder_ranks_paraphrases_first():
    from promptlift.embeddings import cosine, get_embedder

    a, b, c = get_embedder("minilm").embed(["a wonderful, moving film", "a great and touching movie",
                                            "what is the capital of France?"])
    assert len(a) == 384 and abs(cosine(a, a) - 1) < 1e-4
    assert cosine(a, b) > cosine(a, c) + 0.3
