"""GEPA's merge: combine two descendants of a common ancestor, component by component.

For each component of the candidate (instruction, demos, format, verbalizer, ...): if only
one descendant changed it relative to the ancestor, take that change; if both changed it,
the instruction gets a three-way merge by sentence (the edits of both kept, a sentence
either side deleted stays deleted) and any other component comes from the better parent.
No model is called, so a merge costs metric calls only.
"""

from __future__ import annotations

import dataclasses
import re

from promptlift.types import Candidate

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def merge_text(ancestor: str, a: str, b: str, max_words: int = 160) -> str:
    """Three-way sentence merge: ``a``'s sentences minus those ``b`` deleted, then ``b``'s new ones."""
    if a == ancestor:
        return b
    if b == ancestor or a == b:
        return a
    base, left, right = ({s.lower() for s in sentences(t)} for t in (ancestor, a, b))
    dropped_by_b = base - right
    kept = [s for s in sentences(a) if s.lower() not in dropped_by_b]
    added = [s for s in sentences(b) if s.lower() not in left and s.lower() not in base]
    words: list[str] = []
    out: list[str] = []
    for sentence in kept + added:
        if len(words) + len(sentence.split()) > max_words and out:
            break
        words += sentence.split()
        out.append(sentence)
    return " ".join(out)


def merge_candidates(ancestor: Candidate, better: Candidate, other: Candidate) -> Candidate | None:
    """The merge of two descendants of ``ancestor``, or None when it equals either of them.

    ``better`` is the parent with the higher validation mean: it wins components both changed.
    """
    changes = {}
    for field in dataclasses.fields(Candidate):
        old, mine, theirs = (getattr(c, field.name) for c in (ancestor, better, other))
        if mine == theirs or theirs == old:
            value = mine
        elif mine == old:
            value = theirs
        elif field.name == "instruction":
            value = merge_text(old, mine, theirs)
        else:
            value = mine
        changes[field.name] = value
    merged = ancestor.with_(**changes)
    return None if merged in (better, other) else merged
