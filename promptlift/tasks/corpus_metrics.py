"""Corpus-level metrics: computed over all of a split's predictions, not one example at a time.

A class-balanced metric cannot be a mean of per-example scores: macro F1 weighs each label's
F1 equally whatever its size, balanced accuracy each label's recall. On a task with 13%
positives the constant majority answer scores 0.87 accuracy but 0.47 macro F1 and 0.50
balanced accuracy, which is what says it learned nothing.

A :class:`CorpusMetric` is still a plain ``(example, prediction) -> Score`` callable (it scores
one example like ``accuracy``, so every optimizer keeps its per-example scores and feedback);
``corpus(expected, predicted, labels)`` gives the split's value, which ``Task.aggregate`` uses
as a trial's value instead of the mean. ``balanced`` tells calibration that the metric
treats labels as equally likely. The arithmetic is scikit-learn's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from promptlift.tasks.metrics import accuracy
from promptlift.types import Example, Score

Corpus = Callable[[list[str], list[str], list[str]], float]


def normalise(text: str) -> str:
    return text.strip().lower()


def _labels(expected: list[str], labels: Sequence[str]) -> list[str]:
    return [normalise(label) for label in labels] or sorted(set(expected))


def macro_f1_value(expected: list[str], predicted: list[str], labels: list[str]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(expected, predicted, labels=labels, average="macro", zero_division=0))


def balanced_accuracy_value(expected: list[str], predicted: list[str], labels: list[str]) -> float:
    """The mean recall over the labels that occur in ``expected`` (scikit-learn's definition)."""
    from sklearn.metrics import recall_score

    present = [label for label in labels if label in set(expected)] or sorted(set(expected))
    return float(recall_score(expected, predicted, labels=present, average="macro", zero_division=0))


@dataclass(frozen=True)
class CorpusMetric:
    """A metric whose value is computed over a split; per example it scores like ``accuracy``."""

    name: str
    value: Corpus
    balanced: bool = True

    @property
    def __name__(self) -> str:  # what Task.metric_name reads
        return self.name

    def __call__(self, example: Example, prediction: str) -> Score:
        return accuracy(example, prediction)

    def corpus(self, expected: Sequence[str], predicted: Sequence[str], labels: Sequence[str] = ()) -> float:
        """The metric over a split: ``expected`` and ``predicted`` texts in order, the task's labels."""
        want = [normalise(e) for e in expected]
        if not want:
            return 0.0
        return self.value(want, [normalise(p) for p in predicted], _labels(want, labels))


CORPUS_METRICS: dict[str, CorpusMetric] = {
    "macro_f1": CorpusMetric("macro_f1", macro_f1_value),
    "balanced_accuracy": CorpusMetric("balanced_accuracy", balanced_accuracy_value),
}
