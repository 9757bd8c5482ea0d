"""Verbalizers: the words a classification task's labels are scored by, as a searchable component.

A verbalizer is a tuple of words, one per label in the order of ``task.choices``. The
candidate stores it (``Candidate.verbalizer``); rendering scores the words (demo outputs are
shown as the words too) and ``Task.resolve`` maps the best word back to its label, so a
verbalizer never changes what the metric sees. Multi-token words are scored whole (the
backends sum the log-probabilities of their tokens; calibration evens out the length bias).

``candidates_for(task)`` lists the verbalizers worth trying, the task's own labels first.
Known label sets have hand-written alternatives; register more with ``register``. Other
labels get words derived from them (lowercased; ``not_spam``/``NotSpam`` read as "not spam";
a known word for a known label such as "pos" -> "positive"), and where none can be derived
``resolve_option`` says so instead of silently searching nothing.
"""

from __future__ import annotations

import logging
import re
from typing import Sequence

from promptlift.errors import ConfigError
from promptlift.tasks.base import Task
from promptlift.types import Candidate

log = logging.getLogger(__name__)

Verbalizer = tuple[str, ...]

# Abbreviated labels and the words a language model knows them by (derived verbalizers).
WORDS: dict[str, str] = {
    "pos": "positive", "neg": "negative", "neu": "neutral", "t": "true",
    "f": "false", "y": "yes", "n": "no", "1": "yes", "0": "no", "abbr": "abbreviation", "desc": "description",
    "enty": "entity", "hum": "human", "loc": "location", "num": "number", "ent": "entailment",
    "contra": "contradiction", "obj": "objective", "subj": "subjective",
}

# Keyed by the task's labels in order; each value lists alternative word tuples in that order.
KNOWN: dict[Verbalizer, list[Verbalizer]] = {
    ("positive", "negative"): [("great", "terrible"), ("good", "bad"), ("yes", "no")],
    ("negative", "positive"): [("terrible", "great"), ("bad", "good"), ("no", "yes")],
    ("abbreviation", "description", "entity", "human", "location", "number"): [
        ("abbreviation", "description", "thing", "person", "place", "number"),
        ("acronym", "definition", "object", "person", "location", "quantity"),
    ],
    ("yes", "no"): [("true", "false"), ("correct", "wrong")],
    ("true", "false"): [("yes", "no"), ("correct", "wrong")],
}


def register(choices: Sequence[str], *verbalizers: Sequence[str]) -> None:
    """Add alternative verbalizers for a label set (process-wide; used by ``candidates_for``)."""
    key = tuple(choices)
    for words in verbalizers:
        check(key, words)
    known = KNOWN.setdefault(key, [])
    known.extend(tuple(w) for w in verbalizers if tuple(w) not in known)


def candidates_for(task: Task) -> tuple[Verbalizer, ...]:
    """The verbalizers to search for ``task``: its own labels first, then known alternatives.

    Lowercased labels are offered when the labels are not lowercase already. A task without
    choices has no verbalizers (an empty tuple).
    """
    if not task.choices:
        return ()
    own = tuple(task.choices)
    found = [own]
    lower = tuple(c.lower() for c in own)
    if lower != own and len(set(lower)) == len(lower):
        found.append(lower)
    for words in KNOWN.get(own, []) + KNOWN.get(lower, []) + [derived(own)]:
        if words not in found and len(set(words)) == len(words) and all(words):
            found.append(words)
    return tuple(found)


def derived(labels: Sequence[str]) -> Verbalizer:
    """Plain words for ``labels``: separators and camelCase as spaces, lowercased, known
    abbreviations spelled out ("NOT_SPAM" -> "not spam", "NotSpam" -> "not spam", "pos" -> "positive")."""
    def word(label: str) -> str:
        spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", label.strip())
        text = " ".join(re.split(r"[_\-\s./]+", spaced)).lower().strip()
        return WORDS.get(text, text)

    return tuple(word(label) for label in labels)


def check(choices: Sequence[str], words: Sequence[str]) -> Verbalizer:
    """``words`` as a verbalizer of ``choices``: one distinct, non-empty word per label."""
    words = tuple(words)
    if len(words) != len(choices):
        raise ConfigError(f"A verbalizer needs one word per label {tuple(choices)}. Got {words!r}.")
    if any(not isinstance(w, str) or not w.strip() for w in words) or len(set(words)) != len(words):
        raise ConfigError(f"A verbalizer's words must be distinct non-empty strings. Got {words!r}.")
    return words


def apply(task: Task, candidate: Candidate, words: Sequence[str]) -> Candidate:
    """``candidate`` scored by ``words`` (stored as ``()`` when they are the task's own labels)."""
    words = check(task.choices, words)
    return candidate.with_(verbalizer=() if words == tuple(task.choices) else words)


def resolve_option(task: Task, option: str | Sequence[Sequence[str]] | None) -> tuple[Verbalizer, ...]:
    """An optimizer's ``verbalizers`` option as a list of word tuples.

    ``None``/``()``: nothing to search; ``"auto"``: ``candidates_for(task)``; a sequence of
    word sequences: those (each checked against the task's labels).
    """
    if option is None or (not isinstance(option, str) and not option):
        return ()
    if not task.choices:
        raise ConfigError(f"verbalizers need a classification task (with choices); task {task.name!r} has none.")
    if option == "auto":
        found = candidates_for(task)
        if len(found) == 1:
            log.warning("verbalizers='auto' found no label words for the labels %s beyond the labels themselves; "
                        "name some: --param 'verbalizers=[[\"word1\", \"word2\"]]' (or verbalizers.register)",
                        list(task.choices))
        return found
    if isinstance(option, str):
        raise ConfigError(f"verbalizers must be 'auto' or a list of word lists. Got {option!r}.")
    return tuple(check(task.choices, words) for words in option)
