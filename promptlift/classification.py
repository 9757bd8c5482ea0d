"""What a classification result means: baselines, per-class metrics, the confusion matrix, warnings.

A score alone misleads on imbalanced labels: on a user's binary file with 13% positives every
optimizer reported accuracies of 0.68-0.84 while the constant majority answer scored 0.87,
and nothing said so. So every classification result carries, beside the seed prompt:

- the **constant-majority** baseline (the training split's most frequent label, always) and the
  **uniform-random** baseline (its expectation), both under the task's metric and under
  accuracy, macro F1 and balanced accuracy;
- per-class precision, recall, F1 and support, and the confusion matrix (rows: the expected
  label, columns: the predicted one), for the seed and the best candidate;
- warnings: labels imbalanced under plain accuracy (suggesting ``macro_f1``), and a best
  candidate that predicts one label for (nearly) every example.

The arithmetic is scikit-learn's (imported when a summary is made).
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Mapping, Sequence

from promptlift.result import Trial
from promptlift.tasks.base import Task
from promptlift.tasks.corpus_metrics import CORPUS_METRICS, normalise
from promptlift.types import Completion, Example

DRAWS = 100  # seeded uniform-random answer sets whose macro F1 is averaged for the random baseline
IMBALANCE = 1.5  # labels are imbalanced when the largest share is this many times 1/K (0.75 of a binary task)
ONE_LABEL_SHARE = 0.9  # a candidate predicting one label this often (more than its true share) is flagged


def summarize(task: Task, examples: Sequence[Example], trials: Mapping[str, Trial], split: str) -> dict[str, Any] | None:
    """Baselines and per-class metrics of ``trials`` (name -> trial on ``examples``), or None for a
    task without choices."""
    if not task.choices or not examples:
        return None
    return {
        "split": split,
        "labels": list(task.choices),
        "metric": task.metric_name,
        "label_counts": {"train": label_counts(task, task.train), split: label_counts(task, examples)},
        "candidates": {name: class_metrics(task, examples, trial.predictions) for name, trial in trials.items()},
        "baselines": baselines(task, examples),
    }


def label_counts(task: Task, examples: Sequence[Example]) -> dict[str, int]:
    counts = Counter(normalise(e.output) for e in examples)
    return {label: counts.get(normalise(label), 0) for label in task.choices}


def class_metrics(task: Task, examples: Sequence[Example], predictions: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro F1, balanced accuracy, per-class precision/recall/F1/support, confusion matrix."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = [normalise(c) for c in task.choices]
    want = [normalise(e.output) for e in examples]
    got = [normalise(p) for p in predictions]
    precision, recall, f1, support = precision_recall_fscore_support(want, got, labels=labels, zero_division=0)
    other = sum(g not in labels for g in got)  # answers that are no label (generation) count as wrong
    shares = Counter(got)
    return {
        "score": _value(task, examples, list(predictions)),
        "accuracy": sum(w == g for w, g in zip(want, got)) / len(want),
        **{name: metric.corpus(want, got, labels) for name, metric in CORPUS_METRICS.items()},
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(task.choices, precision, recall, f1, support)
        },
        "confusion": confusion_matrix(want, got, labels=labels).tolist(),
        "other_predictions": other,
        "predicted_share": {label: shares.get(normalise(label), 0) / len(got) for label in task.choices},
    }


def majority_label(task: Task) -> str:
    """The training split's most frequent label (validation's when there is no training split)."""
    counts = label_counts(task, task.train or task.val)
    return max(task.choices, key=lambda label: (counts[label], -task.choices.index(label)))


def baselines(task: Task, examples: Sequence[Example]) -> dict[str, Any]:
    """The constant-majority and uniform-random answers on ``examples``, under the task's metric and more."""
    label = majority_label(task)
    constant = [label] * len(examples)
    want = [normalise(e.output) for e in examples]
    labels = [normalise(c) for c in task.choices]
    return {
        "majority": {
            "label": label, "score": _value(task, examples, constant),
            "accuracy": sum(normalise(label) == w for w in want) / len(want),
            **{name: metric.corpus(want, constant, labels) for name, metric in CORPUS_METRICS.items()},
        },
        "uniform": uniform(task, examples),
    }


def uniform(task: Task, examples: Sequence[Example]) -> dict[str, Any]:
    """The expected scores of answering a label drawn uniformly at random.

    Accuracy and balanced accuracy are exact (1/K for labels among the choices), a per-example
    metric's expectation is exact (each label scored on each example); macro F1, not linear in
    the answers, is the mean over ``DRAWS`` seeded draws.
    """
    want = [normalise(e.output) for e in examples]
    labels = [normalise(c) for c in task.choices]
    rng = random.Random(f"uniform-baseline:{task.name}")
    draws = [[rng.choice(labels) for _ in examples] for _ in range(DRAWS)]
    macro = sum(CORPUS_METRICS["macro_f1"].corpus(want, d, labels) for d in draws) / DRAWS
    accuracy = sum(w in labels for w in want) / len(want) / len(labels)
    found = {"draws": DRAWS, "accuracy": accuracy, "macro_f1": macro, "balanced_accuracy": 1 / len(labels)}
    if task.metric_name in found:
        found["score"] = found[task.metric_name]
    else:
        per_label = [_value(task, examples, [label] * len(examples)) for label in task.choices]
        found["score"] = sum(per_label) / len(per_label)  # a mean of per-example scores is linear
    return found


def _value(task: Task, examples: Sequence[Example], predictions: list[str]) -> float:
    """The task's own metric over ``predictions`` (corpus-level where it is)."""
    corpus = task.aggregate(examples, predictions)
    if corpus is not None:
        return corpus
    scores = [task.score(e, Completion(text=p)).value for e, p in zip(examples, predictions)]
    return sum(scores) / len(scores)


def imbalance_warning(task: Task) -> str | None:
    """One line when ``task``'s training labels are imbalanced and its metric is not class-balanced."""
    if not task.choices or getattr(task.metric, "balanced", False):
        return None
    counts = label_counts(task, task.train or task.val)
    total = sum(counts.values())
    if not total or max(counts.values()) / total < IMBALANCE / len(counts):
        return None
    shares = ", ".join(f"{label!r} {n / total:.0%}" for label, n in counts.items())
    top = max(counts, key=lambda label: counts[label])
    return (f"the labels are imbalanced ({shares} of train) and the metric is {task.metric_name}: the constant "
            f"answer {top!r} already scores about {counts[top] / total:.2f}; consider --metric macro_f1 "
            "(or balanced_accuracy)")


def one_label_warning(summary: Mapping[str, Any], name: str = "best", who: str = "the best candidate") -> str | None:
    """One line when candidate ``name`` of ``summary`` (``who``, in the text) predicts one label for
    (nearly) every example."""
    metrics = summary["candidates"].get(name)
    if metrics is None:
        return None
    label, share = max(metrics["predicted_share"].items(), key=lambda item: item[1])
    counts = summary["label_counts"][summary["split"]]
    true_share = counts.get(label, 0) / max(1, sum(counts.values()))
    if share < ONE_LABEL_SHARE or share <= true_share:
        return None
    return (f"{who} predicts {label!r} for {share:.0%} of the {summary['split']} examples "
            f"(their true share: {true_share:.0%}): it barely tells the labels apart")


def score_rows(result: Any) -> list[tuple[str, float | None, float | None]]:
    """(candidate, val, test) rows of a Result: the seed, the best, and for a classification task
    the constant-majority and uniform-random answers (scored on the split the summary used)."""
    rows: list[tuple[str, float | None, float | None]] = [
        ("baseline (seed)", result.baseline.mean, result.baseline_test), ("best", result.best.mean, result.best_test)]
    info = result.classification
    if info:
        base, on_test = info["baselines"], info["split"] == "test"
        for name, row in ((f"constant {base['majority']['label']!r}", base["majority"]),
                          ("uniform random (expected)", base["uniform"])):
            rows.append((name, None if on_test else row["score"], row["score"] if on_test else None))
    return rows


def warnings_for(task: Task, summary: Mapping[str, Any] | None) -> list[str]:
    """The warnings a classification result carries (imbalance under accuracy, one-label best)."""
    found = [imbalance_warning(task), one_label_warning(summary) if summary else None]
    return [w for w in found if w]
