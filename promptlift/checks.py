"""The two tests a setting's value most often passes, written once: a whole number and a number.

Python's ``bool`` is an ``int`` (``True >= 1``), so ``isinstance(value, int)`` alone lets
``True`` through as 1; both checks reject a bool.
"""

from __future__ import annotations

import math
from typing import Any


def is_int(value: Any, low: int | None = None, high: int | None = None) -> bool:
    """An int, not a bool, within ``[low, high]`` (an unset bound: no bound)."""
    return (isinstance(value, int) and not isinstance(value, bool)
            and (low is None or value >= low) and (high is None or value <= high))


def is_number(value: Any, *, finite: bool = False) -> bool:
    """An int or a float, not a bool; with ``finite``, neither infinite nor NaN."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and (not finite or math.isfinite(value)))
