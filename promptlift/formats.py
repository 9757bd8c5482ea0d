"""The prompt format as a searchable component, and the backend capability it needs.

``chat``: the model's chat template; the instruction is the system turn and each demo a
user/assistant pair. ``plain``: one raw completion text (``Field: value`` lines, each demo a
block ending in ``Label: answer``, blocks separated by a blank line), scored with a leading
space. The format fixes the demo layout too (turns versus blocks). The plain format needs a
backend whose ``capabilities.raw_prompt`` is true (a raw prompt bypasses the chat template);
``Run`` refuses a plain request to a backend without it, with a ``CapabilityError``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Sequence

from promptlift.backends.base import Backend
from promptlift.errors import CapabilityError, ConfigError
from promptlift.types import FORMATS, Request

if TYPE_CHECKING:
    from promptlift.tasks.base import Task

log = logging.getLogger(__name__)

NEEDS: dict[str, str | None] = {"chat": "chat", "plain": "raw_prompt"}
AUTO = "auto"  # an optimizer option: every format the backend can score, for a classification task


def supports(backend: Backend, fmt: str) -> bool:
    """Whether ``backend`` can score a candidate in format ``fmt``."""
    need = NEEDS[fmt]
    return need is None or backend.capabilities.has(need)


def require_raw_prompt(backend: Backend, requests: Sequence[Request]) -> None:
    """Raise CapabilityError if a plain-format (raw prompt) request goes to a backend without ``raw_prompt``."""
    if supports(backend, "plain") or all(r.prompt is None for r in requests):
        return
    raise CapabilityError(
        f"the plain prompt format (a raw completion prompt) needs a backend with 'raw_prompt'; "
        f"{backend.id} has only chat: use format='chat'",
        backend=backend.id,
    )


def check(formats: Sequence[str]) -> tuple[str, ...]:
    """``formats`` as a tuple of known format names (raises ConfigError on an unknown one)."""
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"Unknown prompt format(s) {unknown}. Formats: {', '.join(FORMATS)}.")
    return formats


def available(backend: Backend, formats: Sequence[str]) -> tuple[str, ...]:
    """The formats of ``formats`` that ``backend`` supports; the others are skipped with a warning.

    Raises CapabilityError when none is left, naming the capability that is missing.
    """
    formats = check(formats)
    kept = tuple(f for f in formats if supports(backend, f))
    backend_id = backend.id
    for fmt in formats:
        if fmt not in kept:
            log.warning("skipping the %r prompt format: %s lacks the %r capability", fmt, backend_id, NEEDS[fmt])
    if formats and not kept:
        raise CapabilityError(
            f"none of the prompt formats {list(formats)} can be scored: {backend_id} lacks "
            + ", ".join(repr(NEEDS[f]) for f in formats),
            backend=backend_id,
        )
    return kept


def resolve_option(backend: Backend, task: Task, option: str | Sequence[str]) -> tuple[str, ...]:
    """An optimizer's ``formats`` option as the formats to search on ``backend``.

    "auto": every format the backend can score for a classification task (silently leaving out
    the others), the seed's format for any other task; empty: the seed's format; a list: those
    the backend supports (see :func:`available`).
    """
    if option == AUTO:
        kept = tuple(f for f in NEEDS if supports(backend, f)) if task.choices else ()
        return kept or (task.seed.format,)
    return available(backend, option) if option else (task.seed.format,)


def normalise_option(option: str | Sequence[str]) -> str | tuple[str, ...]:
    """A ``formats`` option as given (a name, a list, "auto") in its stored form: "auto" or a tuple."""
    if option == AUTO:
        return AUTO
    return (option,) if isinstance(option, str) else tuple(option)
