"""Label-balanced demos: the one draw the few-shot family shares.

A small model copies the label mix of its demos (on sentiment, SmolLM2-135M answered the
majority label of a lopsided 4-demo set most of the time), so every few-shot optimizer
spreads its demos over the labels the same way: each label in turn, a label that runs out
skipped. :func:`interleave` is that rule on examples already in order of preference (the
nearest first, for per-input retrieval); :func:`draw_demos` applies it to a seeded random sample
(FewShot, BootstrapFewShot, JointSearch, GeneticSearch's initial population).
"""

from __future__ import annotations

import random
from typing import Sequence

from promptlift.types import Example


def draw_demos(pool: Sequence[Example], k: int, rng: random.Random, labels: Sequence[str] = (), *,
         balanced: bool = True) -> list[Example]:
    """``min(k, len(pool))`` distinct demos from ``pool``, drawn with ``rng``.

    With ``labels`` (a choice task) and ``balanced``: a random sample of up to ``k`` per label
    (the task's labels first, then any other output in the pool, as bootstrapped pools of a
    generation-style output may hold), the labels in a random order, interleaved, then
    shuffled. The label counts then differ by at most one, except where a label ran out.
    Otherwise a plain random sample.
    """
    if k <= 0 or not pool:
        return []
    if not (balanced and labels):
        return rng.sample(list(pool), min(k, len(pool)))
    groups = _by_label(pool, labels)
    queues = {label: rng.sample(group, min(k, len(group))) for label, group in groups.items()}
    order = rng.sample(list(queues), len(queues))
    demos = interleave([e for label in order for e in reversed(queues[label])], k)
    rng.shuffle(demos)
    return demos


def interleave(examples: Sequence[Example], k: int) -> list[Example]:
    """Up to ``k`` of ``examples`` taken one label at a time, in turn: each label's examples in
    the order given, the labels in the order they first appear (a label that runs out is
    skipped)."""
    queues = list(_by_label(examples).values())
    out: list[Example] = []
    depth = 0
    while len(out) < k and any(depth < len(q) for q in queues):
        out += [q[depth] for q in queues if depth < len(q)][: k - len(out)]
        depth += 1
    return out


def _by_label(examples: Sequence[Example], labels: Sequence[str] = ()) -> dict[str, list[Example]]:
    """``examples`` grouped by output: ``labels`` first (those present), then others as they appear."""
    groups: dict[str, list[Example]] = {label: [] for label in labels}
    for example in examples:
        groups.setdefault(example.output, []).append(example)
    return {label: group for label, group in groups.items() if group}
