"""The prompt options of the few-shot family, declared and checked once: ``formats``,
``verbalizers``, ``calibrate``.

An optimizer offers an option by declaring it as a field (with the type below) and mixing in
:class:`PromptOptions`; the option then accepts the same values, fails with the same message
and means the same in every optimizer that offers it (FewShot, BootstrapFewShot,
SimilarityFewShot, JointSearch, GeneticSearch, Auto; GEPA checks its ``calibrate`` here too):

- ``formats``: prompt formats to search ("chat", "plain"); "auto": those the backend can score
  for a classification task (the seed's otherwise); empty: the seed's format only.
- ``verbalizers``: label word lists to search; "auto": the known or derived words for the
  task's labels (:func:`promptlift.verbalizers.candidates_for`); empty: the seed's.
- ``calibrate``: "contextual", "batch", "auto" (contextual for a classification task, None
  otherwise) or None; each candidate's label bias is measured before it is scored.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from promptlift import calibration, formats, verbalizers
from promptlift.run import Run

Formats = tuple[str, ...] | str
Verbalizers = str | tuple[tuple[str, ...], ...]
Calibrate = str | None
NAMES = ("formats", "verbalizers", "calibrate")


class PromptOptions:
    """Mixin for an optimizer dataclass declaring some of ``formats``, ``verbalizers``,
    ``calibrate``: stores them in one form (JSON lists from the CLI or YAML become tuples)
    and checks them before the optimizer's own ``_check``."""

    def __post_init__(self) -> None:
        for name in (n for n in offered(self) if n != "calibrate"):
            value = _tuples(getattr(self, name))
            object.__setattr__(self, name, formats.normalise_option(value) if name == "formats" else value)
        check(self)
        super().__post_init__()  # type: ignore[misc]  # the Optimizer's, which calls _check

    def search_formats(self, run: Run) -> tuple[str, ...]:
        """The formats to draw from on this run; empty: keep the seed's."""
        option = getattr(self, "formats", ())
        return formats.resolve_option(run.backend, run.task, option) if option else ()

    def search_verbalizers(self, run: Run) -> tuple[tuple[str, ...], ...]:
        """The label word lists to draw from on this run; empty: keep the seed's."""
        return verbalizers.resolve_option(run.task, getattr(self, "verbalizers", ()))

    def calibration_method(self, run: Run) -> str | None:
        """The calibration each candidate gets on this run ("auto" resolved), or None."""
        return calibration.resolve_option(run.task, getattr(self, "calibrate", None))


def offered(optimizer: Any) -> tuple[str, ...]:
    """The prompt options ``optimizer`` declares as fields."""
    return tuple(f.name for f in dataclasses.fields(optimizer) if f.name in NAMES)


def check(optimizer: Any) -> None:
    """Check each prompt option ``optimizer`` declares (``optimizer.require`` names the bad one)."""
    declared = offered(optimizer)
    if "formats" in declared:
        fmts = optimizer.formats
        optimizer.require("formats", fmts == formats.AUTO or all(f in formats.NEEDS for f in fmts),
                          f"'auto' or a list of {list(formats.NEEDS)}")
    if "verbalizers" in declared:
        optimizer.require("verbalizers", verbalizers_ok(optimizer.verbalizers), "'auto' or a list of word lists")
    if "calibrate" in declared:
        method = optimizer.calibrate
        optimizer.require("calibrate", method in (None, calibration.AUTO, *calibration.METHODS),
                          f"None, 'auto' or one of {list(calibration.METHODS)}")
        if method is not None and getattr(optimizer, "reasoning", False):
            optimizer.require("calibrate", False, "None when reasoning=True (reasoning generates; nothing to calibrate)")


def verbalizers_ok(words: object) -> bool:
    """The ``verbalizers`` option: "auto" or word lists (one word per choice in each)."""
    return words == "auto" or isinstance(words, tuple) and all(
        isinstance(w, tuple) and all(isinstance(x, str) for x in w) for w in words)


def _tuples(value: Any) -> Any:
    """A JSON list (of lists) as tuples; anything else as it is."""
    if isinstance(value, list | tuple):
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return value
