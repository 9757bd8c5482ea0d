"""Built-in metrics. A metric maps (example, prediction text) to a Score with feedback.

Feedback says why an output was wrong (expected vs got, a parse failure, a format problem):
reflective optimizers read it. Metrics never raise on a bad model output.
"""

from __future__ import annotations

import math
import numbers
import re
import string
from collections import Counter
from typing import Callable

from promptlift.errors import MetricError
from promptlift.types import Example, Score

Metric = Callable[[Example, str], "Score | float | bool"]

_PUNCT = str.maketrans("", "", string.punctuation)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:/\d+)?")


def normalize(text: str) -> str:
    """Lower case, first line only, punctuation dropped, whitespace collapsed."""
    first = text.strip().split("\n", 1)[0] if text.strip() else ""
    return " ".join(first.lower().translate(_PUNCT).split())


def _shorten(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _verdict(ok: bool, expected: str, got: str, what: str = "") -> Score:
    if ok:
        return Score(1.0, f"correct: {_shorten(got)!r}")
    if not got.strip():
        return Score(0.0, f"the output was empty; expected {expected!r}")
    return Score(0.0, f"expected {expected!r}, got {_shorten(got)!r}{what}")


def exact_match(example: Example, prediction: str) -> Score:
    """1 if the normalised prediction equals the normalised expected output."""
    return _verdict(normalize(prediction) == normalize(example.output), example.output, prediction)


def accuracy(example: Example, prediction: str) -> Score:
    """Choice accuracy: the predicted label equals the expected label (case-insensitive)."""
    return _verdict(
        prediction.strip().lower() == example.output.strip().lower(), example.output, prediction
    )


def contains(example: Example, prediction: str) -> Score:
    """1 if the expected output appears in the prediction (normalised)."""
    ok = bool(normalize(example.output)) and normalize(example.output) in normalize(prediction)
    return _verdict(ok, example.output, prediction, " (the expected text does not appear in it)")


def word_f1(example: Example, prediction: str) -> Score:
    """Word-overlap F1 between prediction and expected output (SQuAD style; on one-word labels it
    equals accuracy: for a classification task's F1 use ``macro_f1``)."""
    got, want = normalize(prediction).split(), normalize(example.output).split()
    common = sum((Counter(got) & Counter(want)).values())
    if not got or not want or common == 0:
        return _verdict(False, example.output, prediction, " (no word in common)")
    precision, recall = common / len(got), common / len(want)
    value = 2 * precision * recall / (precision + recall)
    missing = sorted(set(want) - set(got))
    return Score(value, f"F1 {value:.2f}; missing words: {missing[:8]}" if missing else f"F1 {value:.2f}")


def number(example: Example, prediction: str) -> Score:
    """1 if the first number in the prediction equals the expected number."""
    found = _NUMBER.findall(prediction.replace(",", ""))
    if not found:
        return Score(0.0, f"no number found in the output {_shorten(prediction)!r}; expected {example.output}")
    try:
        ok = abs(_to_float(found[0]) - _to_float(example.output)) < 1e-6
    except ValueError:
        ok = found[0] == example.output.strip()
    return _verdict(ok, example.output, found[0], f" (from output {_shorten(prediction, 40)!r})")


def _to_float(text: str) -> float:
    text = text.strip().replace(",", "")
    if "/" in text:
        num, den = text.split("/", 1)
        return float(num) / float(den)
    return float(text)


METRICS: dict[str, Metric] = {
    "exact_match": exact_match,
    "accuracy": accuracy,
    "contains": contains,
    "word_f1": word_f1,
    "number": number,
}
f1 = word_f1  # the old name, kept for imports


def to_score(value: "Score | float | bool", *, metric: str = "metric", example: str = "?") -> Score:
    """A Score from what a user metric returned: a Score, any real number or a bool (numpy's too)."""
    if isinstance(value, Score):
        return Score(metric_value(value.value, metric=metric, example=example), value.feedback)
    return Score(metric_value(value, metric=metric, example=example))


def metric_value(value: object, *, metric: str, example: str) -> float:
    """``value`` as a float in [0, 1], or MetricError naming the metric, the example and the value.

    Accepts bool, int, float and any numpy (or other ``numbers.Real``) scalar. NaN, infinities
    and values outside [0, 1] are errors, not scores: clipping them would hide a broken metric
    (NaN used to score 0 and 5.0 score 1). Corpus-level metrics use this check too.
    """
    if isinstance(value, numbers.Real) or type(value).__module__ == "numpy" and hasattr(value, "item"):
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            number = None
        if number is not None and math.isfinite(number) and 0.0 <= number <= 1.0:
            return number
        problem = "not a number in [0, 1]"
    else:
        problem = f"a {type(value).__name__}, not a Score, a number or a bool"
    raise MetricError(f"metric {metric!r} returned {value!r} on example {example}: {problem}")
