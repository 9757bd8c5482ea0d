"""The validation split and the budget must fit each other.

Every candidate is scored on the whole validation split, so a budget of 400 metric calls on a
400-example val split buys the seed and nothing else: the default 60/20/20 split of a
2,000-row data file did exactly that. Where the split is ours to choose (a data file without
a ``split`` column, no ``--sizes``), val is capped so the budget buys the seed and
``CANDIDATES`` candidates, and the command says so. Where the user chose it, a budget that
cannot validate even one candidate beside the seed is an error naming the smallest budget
that works and the ``--sizes`` that would fit.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from promptlift.errors import ConfigError
from promptlift.tasks import Task

CANDIDATES = 3  # candidates beyond the seed that a default split leaves the budget for
MIN_VAL = 10  # a val split capped below this would say little: the budget is too small instead


def has_split_column(path: str) -> bool:
    """Whether a data file's first row names its split (then the split is the user's)."""
    from promptlift.tasks.loaders import read_rows

    rows = read_rows(Path(path))
    return bool(rows) and "split" in rows[0][1]


def fit_val(task: Task, budget: int | None, *, ours: bool) -> tuple[Task, str | None]:
    """``task`` with val capped to the budget where the split is ``ours``, and what was done (or None).

    Raises ConfigError when the split is the user's and ``budget`` cannot score the seed and one
    candidate on it.
    """
    if budget is None:
        return task, None
    cap = budget // (CANDIDATES + 1)
    n = len(task.val)
    if n <= cap:
        return task, None
    if ours and cap >= min(MIN_VAL, n):
        note = (f"val capped at {cap} of its {n} examples, so the budget of {budget} metric calls scores the seed "
                f"and {CANDIDATES} candidates (set the split with --sizes TRAIN,VAL,TEST, or raise --budget)")
        return dataclasses.replace(task, val=task.val[:cap]), note
    if budget >= 2 * n:
        return task, None
    raise ConfigError(
        f"--budget {budget} cannot score the seed and one candidate on the {n} validation examples (each candidate "
        f"is scored on all of them): use --budget {(CANDIDATES + 1) * n} or more, or fewer validation examples, e.g. "
        f"--sizes {len(task.train)},{max(1, cap)},{len(task.test)}")
