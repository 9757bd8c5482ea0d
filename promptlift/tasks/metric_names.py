"""Metrics by name: the per-example ones (``metrics.METRICS``), the corpus-level ones
(``corpus_metrics.CORPUS_METRICS``) and the deprecated names. It sits above both modules,
so neither imports the other's registry."""

from __future__ import annotations

import warnings

from promptlift.errors import ConfigError
from promptlift.tasks.corpus_metrics import CORPUS_METRICS
from promptlift.tasks.metrics import METRICS, Metric

DEPRECATED = {"f1": "word_f1"}


def get_metric(name: str) -> Metric:
    """A metric by name: per-example (``METRICS``) or corpus-level (``macro_f1``, ``balanced_accuracy``)."""
    if name in DEPRECATED:
        warnings.warn(f"the metric name {name!r} is deprecated: it is word-overlap F1, which equals accuracy on "
                      f"one-word labels; use {DEPRECATED[name]!r} (or 'macro_f1' for a classification task)",
                      FutureWarning, stacklevel=2)
        name = DEPRECATED[name]
    found = METRICS.get(name) or CORPUS_METRICS.get(name)
    if found is None:
        names = sorted([*METRICS, *CORPUS_METRICS])
        raise ConfigError(f"Unknown metric {name!r}. Available: {', '.join(names)}.")
    return found
