"""``promptlift.checks``: the one int check and the one number check every setting uses."""

from __future__ import annotations

import math

import pytest

from promptlift.checks import is_int, is_number
from promptlift.errors import ConfigError
from promptlift.optimizers import FewShot


def test_is_int_takes_an_int_within_its_bounds_and_never_a_bool():
    assert is_int(3) and is_int(3, 3) and is_int(3, 0, 3)
    assert not is_int(2, 3) and not is_int(4, 0, 3)
    assert not is_int(True) and not is_int(True, 0) and not is_int(False, 0)
    assert not is_int(3.0) and not is_int("3") and not is_int(None)


def test_is_number_takes_ints_and_floats_but_no_bool_and_finite_when_asked():
    assert is_number(0) and is_number(0.5) and is_number(math.inf)
    assert not is_number(True) and not is_number("1") and not is_number(None)
    assert not is_number(math.inf, finite=True) and not is_number(math.nan, finite=True)
    assert is_number(-2.5, finite=True)


def test_require_int_refuses_a_bool_with_the_usual_message():
    with pytest.raises(ConfigError, match=r"The 'k' parameter of FewShot must be an int >= 1\. Got True\."):
        FewShot(k=True)
    assert FewShot(k=2).k == 2
