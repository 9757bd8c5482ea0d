"""Renamed hyperparameters: an old keyword keeps working for one release, with a DeprecationWarning.

``@renamed(old="new")`` above ``@dataclass`` makes ``Cls(old=1)`` mean ``Cls(new=1)``; the
registry (CLI ``--param``, benchmark YAML) maps the same names through :func:`new_names`, so a
committed sweep config keeps loading (and keeps its cell ids, which come from the YAML).
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, Mapping, TypeVar

from promptlift.errors import ConfigError

T = TypeVar("T", bound=type)

RENAMED = "renamed_parameters"  # the class attribute holding {old: new}


def renamed(**old_to_new: str) -> Callable[[T], T]:
    """Class decorator (outside ``@dataclass``): accept each old keyword under its new name."""

    def decorate(cls: T) -> T:
        init = vars(cls)["__init__"]  # the one @dataclass wrote

        @functools.wraps(init)
        def __init__(self: Any, **params: Any) -> None:
            init(self, **new_names(type(self), params, stacklevel=3))

        cls.__init__ = __init__  # type: ignore[misc]  # dataclass __init__ wrapped on purpose
        setattr(cls, RENAMED, {**getattr(cls, RENAMED, {}), **old_to_new})
        return cls

    return decorate


def new_names(cls: type, params: Mapping[str, Any], *, stacklevel: int = 2) -> dict[str, Any]:
    """``params`` with each renamed keyword of ``cls`` under its new name (warning once per name)."""
    table: Mapping[str, str] = getattr(cls, RENAMED, {})
    out: dict[str, Any] = {}
    for name, value in params.items():
        new = table.get(name)
        if new is None:
            out[name] = value
            continue
        if new in params:
            raise ConfigError(f"{cls.__name__}: give {new!r} only ({name!r} is its old name).")
        warnings.warn(f"The {name!r} parameter of {cls.__name__} is now called {new!r}; {name!r} will be removed "
                      "in the next release.", DeprecationWarning, stacklevel=stacklevel + 1)
        out[new] = value
    return out
