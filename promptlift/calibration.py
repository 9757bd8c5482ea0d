"""Calibrated choice scores: measure a candidate's label bias and store it in the candidate.

A small model prefers some labels whatever the input ("positive" over "negative", a short
verbalizer over a long one). Both methods here measure that preference as one bias per
choice and return the candidate with ``calibration`` filled in; ``Task.resolve`` subtracts
it from the choice log-probabilities. The bias lives in the candidate, so a calibrated
candidate is reproducible, exportable (``best_candidate.json``) and re-scorable anywhere
(``promptlift evaluate --candidate``) without the optimizer.

- ``contextual``: contextual calibration (Zhao et al. 2021, "Calibrate Before Use"). The
  candidate's full prompt is filled with content-free inputs ("N/A", "", "[MASK]"); the mean
  of the normalised choice probabilities p_cf is the bias, and scores become log p - log p_cf.
- ``batch``: batch re-centring. The mean normalised log-probability of each choice over
  unlabeled training inputs is subtracted, so that on average no label is preferred.

Both measure the bias as if every label were equally likely. Where the training split is
imbalanced and the metric rewards plain accuracy, that is wrong: on a binary task with 13%
positives, balancing the classes costs accuracy. So the log of the training split's class
prior (add-one smoothed) is added back to the calibrated scores (stored in the same bias);
a class-balanced metric (``macro_f1``, ``balanced_accuracy``: ``metric.balanced``) keeps the
uniform assumption, which is what it rewards.

Probe calls go through ``run.complete`` (task model, counted in the budget's LM calls, cached);
they are never trials and cost no metric calls. Use ``calibrate(run, candidate, method)``.
"""

from __future__ import annotations

import logging
import math
import random
from typing import TYPE_CHECKING, Any, Sequence

from promptlift.errors import CapabilityError, ConfigError
from promptlift.tasks.base import Task
from promptlift.types import Candidate, Completion, Example

if TYPE_CHECKING:
    from promptlift.run import Run

log = logging.getLogger(__name__)

METHODS: tuple[str, ...] = ("contextual", "batch")
AUTO = "auto"  # an optimizer option: contextual for a classification task, None otherwise
CONTENT_FREE: tuple[str, ...] = ("N/A", "", "[MASK]")
BATCH_SIZE = 32
DIGITS = 6  # the bias is stored rounded, so best_candidate.json stays readable


def calibrate(run: Run, candidate: Candidate, method: str | None, **options: Any) -> Candidate:
    """``candidate`` with its bias measured by ``method`` ("contextual", "batch", "auto": contextual
    for a classification task; None: unchanged).

    ``run`` is the :class:`promptlift.Run` whose task model is probed.
    ``options`` go to the method: ``inputs`` for contextual, ``examples``/``n`` for batch.
    """
    method = resolve_option(run.task, method)
    if method is None or method == "none":
        return candidate
    if method == "contextual":
        return contextual(run, candidate, **options)
    if method == "batch":
        return batch(run, candidate, **options)
    raise ConfigError(f"Unknown calibration method {method!r}. Methods: {', '.join(METHODS)} or None.")


def resolve_option(task: Task, option: str | None) -> str | None:
    """An optimizer's ``calibrate`` option for ``task``: "auto" becomes "contextual" for a
    classification task and None otherwise; any other value is returned as it is."""
    if option == AUTO:
        return "contextual" if task.choices else None
    return option


def contextual(run: Run, candidate: Candidate, *, inputs: Sequence[str] = CONTENT_FREE) -> Candidate:
    """Contextual calibration: the bias is measured on content-free inputs under the full prompt."""
    task = _choice_task(run.task, candidate)
    if not inputs:
        raise ConfigError("contextual calibration needs at least one content-free input.")
    probes = content_free_examples(task, inputs)
    return candidate.with_(calibration=with_prior(contextual_bias(_probe(run, candidate, probes)), class_prior(task)))


def batch(run: Run, candidate: Candidate, *, examples: Sequence[Example] | None = None, n: int = BATCH_SIZE) -> Candidate:
    """Batch re-centring: the bias is the mean log-probability of each choice over unlabeled inputs.

    ``examples`` default to ``n`` training examples (the candidate's demos left out), drawn with
    a generator seeded by the run's seed, so every candidate of a run is centred on the same
    inputs and the run's own random stream is left alone. Their labels are never read.
    """
    task = _choice_task(run.task, candidate)
    if examples is None:
        examples = unlabeled_sample(task, candidate, n, seed=run.seed)
    if not examples:
        raise ConfigError(f"batch calibration needs unlabeled inputs; task {task.name!r} has no training examples left.")
    return candidate.with_(calibration=with_prior(batch_bias(_probe(run, candidate, examples)), class_prior(task)))


def class_prior(task: Task) -> tuple[float, ...] | None:
    """The label shares of ``task``'s training split in the order of ``task.choices`` (add-one
    smoothed), or None where the classes count as equal: a class-balanced metric, or no training
    split."""
    if getattr(task.metric, "balanced", False) or not task.train or not task.choices:
        return None
    wanted = {c.strip().lower(): i for i, c in enumerate(task.choices)}
    counts = [1] * len(task.choices)
    for example in task.train:
        index = wanted.get(example.output.strip().lower())
        if index is not None:
            counts[index] += 1
    total = sum(counts)
    return tuple(c / total for c in counts)


def with_prior(bias: Sequence[float], prior: Sequence[float] | None) -> tuple[float, ...]:
    """``bias`` less the log prior (``Task.resolve`` subtracts the bias, so a frequent label gains)."""
    if prior is None:
        return tuple(bias)
    return _centred([b - math.log(p) for b, p in zip(bias, prior, strict=True)])


def contextual_bias(rows: Sequence[Sequence[float]]) -> tuple[float, ...]:
    """log of the mean normalised probability of each choice, centred (Zhao et al. 2021)."""
    probs = [[math.exp(lp) for lp in log_softmax(row)] for row in _checked(rows)]
    mean = [sum(column) / len(probs) for column in zip(*probs)]
    return _centred([math.log(max(p, 1e-300)) for p in mean])


def batch_bias(rows: Sequence[Sequence[float]]) -> tuple[float, ...]:
    """The mean normalised log-probability of each choice, centred."""
    normalised = [log_softmax(row) for row in _checked(rows)]
    return _centred([sum(column) / len(normalised) for column in zip(*normalised)])


def log_softmax(row: Sequence[float]) -> list[float]:
    """Log-probabilities renormalised over the choices."""
    top = max(row)
    total = top + math.log(sum(math.exp(x - top) for x in row))
    return [x - total for x in row]


def content_free_examples(task: Task, inputs: Sequence[str] = CONTENT_FREE) -> list[Example]:
    """One example per content-free string, with every input field set to it (no label)."""
    return [Example({name: text for name in task.input_fields}, "", id=f"content-free-{i}") for i, text in enumerate(inputs)]


def unlabeled_sample(task: Task, candidate: Candidate, n: int, *, seed: int = 0) -> list[Example]:
    """``n`` training examples that are not demos of ``candidate``, seeded; labels dropped."""
    demos = {d.id for d in candidate.demos}
    pool = [e for e in task.train if e.id not in demos]
    chosen = random.Random(f"calibration:{seed}").sample(pool, min(n, len(pool)))
    return [Example(e.inputs, "", id=e.id) for e in chosen]


def _probe(run: Run, candidate: Candidate, examples: Sequence[Example]) -> list[tuple[float, ...]]:
    """The choice log-probabilities of ``candidate`` on ``examples`` (task model, no trial)."""
    requests = [run.task.render(candidate, e) for e in examples]
    completions: list[Completion] = run.complete(requests)
    missing = [c for c in completions if len(c.choice_logprobs) != len(run.task.choices)]
    if missing:
        backend = run.backend.id
        raise CapabilityError(f"calibration needs choice log-probabilities; {backend} returned none "
                              "(score without it: --param calibrate=null)", backend=backend)
    rows = [c.choice_logprobs for c in completions]
    log.debug("calibration probe: %d inputs, candidate %s", len(rows), candidate.key)
    return rows


def _choice_task(task: Task, candidate: Candidate) -> Task:
    if not task.choices:
        raise ConfigError(f"calibration needs a classification task (with choices); task {task.name!r} has none.")
    if getattr(candidate, "reasoning", False):
        raise ConfigError("calibration applies to choice scores; a reasoning candidate generates its answer.")
    return task


def _checked(rows: Sequence[Sequence[float]]) -> list[Sequence[float]]:
    rows = [row for row in rows]
    if not rows or not rows[0] or any(len(r) != len(rows[0]) for r in rows):
        raise ConfigError("calibration needs at least one row of choice log-probabilities, all of one length.")
    return rows


def _centred(values: Sequence[float]) -> tuple[float, ...]:
    """Shift so the biases sum to 0 (argmax is unchanged; the stored numbers read as relative)."""
    mean = sum(values) / len(values)
    return tuple(round(v - mean, DIGITS) for v in values)
