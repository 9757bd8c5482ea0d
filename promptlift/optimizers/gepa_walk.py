"""GEPA's plan as a walk over the budget left (``patterns.gepa``).

A GEPA step spends its parents' minibatches, then (unless a parent is perfect on its
minibatch) the children's, then validates the accepted children the budget pays while it
keeps a step and one validation in hand; the others wait. The search steps while the budget
left pays a step and a validation (``GEPA._affordable``), then spends that last validation on
the best waiting child, if any child waits. :func:`walk` carries the probability of every
budget left, with and without a child waiting, from step to step (each step's outcomes from
binomial shares, ``GEPA._children_affordable`` and ``GEPA._validate_children`` as the
optimizer has them) and sums the expected counts; the spread of the metric calls spent comes
from where the walk ends. No model call; ``left`` None (no metric-call limit) plans
``max_iterations`` steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from promptlift.optimizers.gepa import GEPA


@dataclass(frozen=True)
class Shares:
    """The assumed shares: parents perfect on their minibatch, proposer answers unusable, children accepted."""

    perfect: float
    unusable: float
    accepted: float


@dataclass(frozen=True)
class Outcome:
    """One outcome of a step from a given budget left, with its probability."""

    p: float
    metric: int
    children: int  # usable children scored (each calibrated first, with calibration on)
    slots: int  # reflections asked for
    validated: int
    waiting: int  # children scored and not validated (rejected, or accepted beyond what the budget pays now)


@dataclass(frozen=True)
class Steps:
    """Expected counts of the steps after the seed (and calibrated seed), and the spread of the metric calls."""

    metric: float
    requests: float
    proposer: float
    proposals: float
    validated: float
    steps: float
    low: int
    high: int


def _binomial(n: int, p: float) -> Iterator[tuple[int, float]]:
    for k in range(n + 1):
        yield k, math.comb(n, k) * p**k * (1 - p) ** (n - k)


def outcomes(optimizer: GEPA, shares: Shares, *, n_val: int, size: int, left: int | None) -> Iterator[Outcome]:
    """What one step does from ``left`` metric calls left (None: no limit), as GEPA's ``_reflect`` does it."""
    parents, per_parent = optimizer.parents_per_step, optimizer.children_per_parent
    usable = 1 - shares.unusable**optimizer.draws
    base, reserve = parents * size, (parents + 1) * size
    for working, p_working in _binomial(parents, 1 - shares.perfect):
        if working == 0:
            yield Outcome(p_working, base, 0, 0, 0, 0)
            continue
        room = None if left is None else left - base
        slots = working * per_parent if room is None else max(1, min(working * per_parent, (room - n_val) // size))
        for children, p_children in _binomial(slots, usable):
            after = None if room is None else room - children * size
            for kept, p_kept in _binomial(children, shares.accepted):
                p, metric = p_working * p_children * p_kept, base + children * size
                validated = kept if after is None else max(0, min(kept, (after - n_val - reserve) // n_val))
                yield Outcome(p, metric + validated * n_val, children, slots, validated, children - validated)


def walk(optimizer: GEPA, shares: Shares, *, n_val: int, size: int, probes: int, left: int | None) -> Steps:
    """The expected counts of GEPA's steps from ``left`` metric calls after the seed (None: no limit)."""
    draws = sum(shares.unusable**i for i in range(optimizer.draws))  # proposer requests per reflection
    if left is None:
        return _unlimited(optimizer, shares, n_val=n_val, size=size, probes=probes, draws=draws)
    reserve = (optimizer.parents_per_step + 1) * size
    mass = [[0.0] * (left + 1), [0.0] * (left + 1)]  # by budget left: no child waiting, a child waiting
    mass[0][left] = 1.0
    ended = [0.0] * (left + 1)
    totals = [0.0] * 6  # metric, requests, proposer, proposals, validated, steps
    for budget_left in range(left, -1, -1):
        for waits in (0, 1):
            here = mass[waits][budget_left]
            if here == 0.0:
                continue
            if budget_left < n_val + reserve:  # the search ends; the last validation goes to a waiting child
                last = n_val if waits and budget_left >= n_val else 0
                totals[0] += here * last  # metric calls
                totals[1] += here * last  # task-model requests
                totals[4] += here * (last > 0)  # validations
                ended[budget_left - last] += here
                continue
            totals[5] += here
            for o in outcomes(optimizer, shares, n_val=n_val, size=size, left=budget_left):
                weight = here * o.p
                for i, value in enumerate(_counts(o, probes, draws)):
                    totals[i] += weight * value
                mass[1 if waits or o.waiting else 0][budget_left - o.metric] += weight
    if totals[5] > optimizer.max_iterations:  # the iteration cap ends it first
        return _unlimited(optimizer, shares, n_val=n_val, size=size, probes=probes, draws=draws)
    low, high = _spread(ended, left)
    metric, requests, proposer, proposals, validated, steps = totals
    return Steps(metric, requests, proposer, proposals, validated, steps, low=low, high=high)


def _unlimited(optimizer: GEPA, shares: Shares, *, n_val: int, size: int, probes: int, draws: float) -> Steps:
    """``max_iterations`` steps, each its expected counts with no budget in the way."""
    step = [0.0] * 5
    for o in outcomes(optimizer, shares, n_val=n_val, size=size, left=None):
        for i, value in enumerate(_counts(o, probes, draws)):
            step[i] += o.p * value
    n = optimizer.max_iterations
    metric, requests, proposer, proposals, validated = (n * v for v in step)
    return Steps(metric, requests, proposer, proposals, validated, float(n), low=round(metric), high=round(metric))


def _counts(o: Outcome, probes: int, draws: float) -> tuple[float, float, float, float, float]:
    """One outcome's metric calls, task requests, proposer requests, proposals and validations."""
    return o.metric, o.metric + o.children * probes, o.slots * draws, o.slots, o.validated


def _spread(ended: list[float], left: int) -> tuple[int, int]:
    """The 10th and 90th percentiles of the metric calls spent, from where the walk ended."""
    spent = sorted((left - budget_left, p) for budget_left, p in enumerate(ended) if p > 0)
    cumulative, low, high = 0.0, None, spent[-1][0] if spent else 0
    for value, p in spent:
        cumulative += p
        if low is None and cumulative >= 0.1:
            low = value
        if cumulative >= 0.9:
            high = value
            break
    return (low if low is not None else high), high
