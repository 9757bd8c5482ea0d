import pytest

from promptlift import Candidate, Completion, Example, Task, get_task
from promptlift.errors import ConfigError, MetricError
from promptlift.tasks.metrics import accuracy, contains, exact_match, f1, number
from promptlift.tasks.render import as_text

EX = Example({"q": "x"}, "Paris")


def test_metrics_score_and_explain():
    assert exact_match(EX, " paris.\nmore").value == 1.0
    wrong = exact_match(EX, "London")
    assert wrong.value == 0.0 and "expected 'Paris', got 'London'" in wrong.feedback
    assert "empty" in exact_match(EX, "  ").feedback
    assert contains(EX, "It is Paris, France").value == 1.0
    assert 0 < f1(Example({}, "the big cat"), "a big cat").value < 1
    assert number(Example({}, "12"), "The answer is 12.").value == 1.0
    assert "no number" in number(Example({}, "12"), "twelve").feedback
    assert accuracy(Example({}, "positive"), "Positive").value == 1.0


def test_a_raising_metric_is_a_clear_error():
    def broken(example, prediction):
        return 1 / 0

    task = Task(name="t", input_fields=("q",), train=(), val=(EX,), metric=broken)
    with pytest.raises(MetricError, match=r"metric 'broken' of task 't' raised ZeroDivisionError on example"):
        task.score(EX, Completion(text="Paris"))


def test_resolve_applies_calibration_and_maps_labels():
    task = Task(name="t", input_fields=("q",), train=(), val=(EX,), choices=("a", "b"), metric="accuracy")
    completion = Completion(text="great", choice_logprobs=(-1.0, -1.5))
    assert task.resolve(Candidate(), completion).text == "a"
    assert task.resolve(Candidate(calibration=(0.0, -1.0)), completion).text == "b"


@pytest.mark.parametrize("name", ["sentiment", "trec", "arithmetic", "word_sorting"])
def test_builtin_tasks_have_disjoint_seeded_splits(name):
    task = get_task(name, sizes=(20, 10, 10))
    ids = [e.id for s in (task.train, task.val, task.test) for e in s]
    assert len(ids) == len(set(ids)) == 40
    assert get_task(name, sizes=(20, 10, 10)).val == task.val
    assert get_task(name, sizes=(20, 10, 10), seed=1).val != task.val


def test_sentiment_renders_both_formats_with_verbalizer():
    task = get_task("sentiment", sizes=(4, 4, 4))
    plain = Candidate("Judge.", demos=task.train[:1], format="plain", verbalizer=("great", "terrible"))
    request = task.render(plain, task.val[0])
    assert request.prompt.startswith("Judge.\n\nReview: ") and request.prompt.endswith("Sentiment:")
    assert request.choices == (" great", " terrible")
    chat = task.render(task.seed, task.val[0])
    assert chat.messages[0].role == "system" and chat.choices == ("positive", "negative")
    assert "[user]\nReview:" in as_text(chat)


def test_unknown_task_lists_the_built_ins():
    with pytest.raises(ConfigError, match="Built-in tasks: sentiment, trec"):
        get_task("nope")
