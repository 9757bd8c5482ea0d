"""Genetic operators that need no language model: small pure functions over candidates' parts.

Every function takes its randomness from a ``random.Random`` passed in, so a seeded run is
reproducible. Instructions are handled as lists of sentences, demo sets as tuples of
examples. These keep a genetic search useful when the proposer model writes poor text (a
135M model): crossover and mutation still move through the space of instructions and demos.

Selection (roulette, tournament) and survival (GA's best-of-all, DE's one-to-one
replacement) live here too, with :class:`Individual`, the population's unit, so the optimizer
and the plots share one definition.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from promptlift.types import Candidate, Example

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-z0-9']+")
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
_TAG = re.compile(r"<prompt>(.*?)(?:</prompt>|$)", re.S | re.I)

Demos = tuple[Example, ...]


@dataclass(frozen=True)
class Individual:
    """One of a genetic population: a validated candidate, its validation trial number and its
    fitness (that trial's mean score)."""

    candidate: Candidate
    trial: int
    fitness: float


# --- instructions ----------------------------------------------------------------------------
def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (split after . ! ?), whitespace collapsed, empties dropped."""
    flat = " ".join(text.split())
    return [s.strip() for s in _SENTENCE_END.split(flat) if s.strip()]


def join_sentences(sentences: Sequence[str]) -> str:
    """Sentences back to one text, each ending in punctuation, duplicates dropped."""
    out: list[str] = []
    for sentence in sentences:
        sentence = sentence.strip()
        if sentence and sentence[-1] not in ".!?:":
            sentence += "."
        if sentence and sentence.lower() not in {s.lower() for s in out}:
            out.append(sentence)
    return " ".join(out)


def crossover_sentences(a: str, b: str, rng: random.Random, max_sentences: int = 6) -> str:
    """One-point crossover: a head of ``a``'s sentences joined to a tail of ``b``'s.

    The child always keeps at least one sentence of each parent (two one-sentence parents
    are concatenated), and at most ``max_sentences`` sentences.
    """
    left, right = split_sentences(a), split_sentences(b)
    if not left or not right:
        return join_sentences((left or right)[:max_sentences])
    head = left[: rng.randint(1, len(left))]
    tail = right[rng.randint(0, len(right) - 1) :]
    return join_sentences((head + tail)[:max_sentences])


def mutate_sentences(text: str, donors: Sequence[str], rng: random.Random, max_sentences: int = 6) -> str:
    """Drop, move, or insert (from a donor instruction) one sentence; the text if none applies."""
    sentences = split_sentences(text)
    donor_sentences = [s for d in donors for s in split_sentences(d) if s not in sentences]
    moves = []
    if len(sentences) > 1:
        moves += ["drop", "move"]
    if donor_sentences and len(sentences) < max_sentences:
        moves.append("insert")
    if not moves:
        return text
    move = rng.choice(moves)
    if move == "drop":
        sentences.pop(rng.randrange(len(sentences)))
    elif move == "move":
        sentence = sentences.pop(rng.randrange(len(sentences)))
        sentences.insert(rng.randint(0, len(sentences)), sentence)
    else:
        sentences.insert(rng.randint(0, len(sentences)), rng.choice(donor_sentences))
    return join_sentences(sentences)


def sentence_difference(a: str, b: str) -> list[str]:
    """Sentences of ``a`` that ``b`` does not have (case-insensitive)."""
    have = {s.lower() for s in split_sentences(b)}
    return [s for s in split_sentences(a) if s.lower() not in have]


def differential_sentences(a: str, b: str, best: str, current: str, rng: random.Random,
                           max_sentences: int = 6) -> str:
    """DE without a model: add what ``a`` says and ``b`` does not to ``best``, cross with ``current``."""
    mutant = join_sentences((split_sentences(best) + sentence_difference(a, b))[:max_sentences])
    return crossover_sentences(mutant, current, rng, max_sentences) if rng.random() < 0.5 else mutant


def tidy_instruction(text: str, fallback: str, max_sentences: int = 6, min_words: int = 3, *,
                     parents: Sequence[str] = (), template: str = "") -> str:
    """A proposer's instruction made usable: a ``<prompt>`` block if any, at most
    ``max_sentences`` sentences. ``fallback`` when too short, when it repeats the meta-prompt
    (``template``) rather than the ``parents``, or when it shares no content word with them."""
    tagged = _TAG.findall(text)
    body = tagged[0] if tagged else text
    body = join_sentences(split_sentences(body)[:max_sentences])
    if len(body.split()) < min_words or re.search(r"instruction \d|prompt \d|</?prompt>", body, re.I):
        return fallback
    if echoes_template(body, template, parents) or not on_topic(body, parents):
        return fallback
    return body


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _grams(text: str, n: int) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def echoes_template(text: str, template: str, parents: Sequence[str] = (), n: int = 3) -> bool:
    """Whether ``text`` repeats an ``n``-word phrase of the meta-prompt that no parent has
    (a small proposer often answers with the request itself: "combine the two ...")."""
    own = _grams(_PLACEHOLDER.sub(" | ", template), n) - set().union(set(), *(_grams(p, n) for p in parents))
    return bool(_grams(text, n) & own)


def on_topic(text: str, parents: Sequence[str], min_chars: int = 4) -> bool:
    """Whether ``text`` shares a content word (``min_chars`` letters or more) with the parents;
    true when the parents have none."""
    anchors = {w for p in parents for w in _words(p) if len(w) >= min_chars}
    return not anchors or any(w in anchors for w in _words(text) if len(w) >= min_chars)


# --- demos -----------------------------------------------------------------------------------
def _fresh(pool: Sequence[Example], demos: Demos, label: str | None = None) -> list[Example]:
    taken = {d.id for d in demos}
    return [e for e in pool if e.id not in taken and (label is None or e.output == label)]


def _rarest_label(demos: Demos, labels: Sequence[str], pool: Sequence[Example], rng: random.Random) -> str | None:
    counts = Counter(d.output for d in demos)
    available = [label for label in labels if _fresh(pool, demos, label)]
    if not available:
        return None
    least = min(counts[label] for label in available)
    return rng.choice([label for label in available if counts[label] == least])


def add_demo(demos: Demos, pool: Sequence[Example], rng: random.Random, labels: Sequence[str] = ()) -> Demos:
    """One more demo from ``pool`` at a random position; with ``labels``, of the rarest label."""
    label = _rarest_label(demos, labels, pool, rng) if labels else None
    options = _fresh(pool, demos, label)
    if not options:
        return demos
    position = rng.randint(0, len(demos))
    return demos[:position] + (rng.choice(options),) + demos[position:]


def drop_demo(demos: Demos, rng: random.Random) -> Demos:
    """One demo fewer (the same set if empty)."""
    if not demos:
        return demos
    position = rng.randrange(len(demos))
    return demos[:position] + demos[position + 1 :]


def swap_demo(demos: Demos, pool: Sequence[Example], rng: random.Random, labels: Sequence[str] = ()) -> Demos:
    """One demo replaced by a new one from ``pool``; with ``labels``, one of the same label."""
    if not demos:
        return demos
    position = rng.randrange(len(demos))
    label = demos[position].output if labels else None
    options = _fresh(pool, demos, label) or _fresh(pool, demos)
    if not options:
        return demos
    return demos[:position] + (rng.choice(options),) + demos[position + 1 :]


def mutate_demos(demos: Demos, pool: Sequence[Example], rng: random.Random, max_demos: int,
                 labels: Sequence[str] = ()) -> tuple[Demos, str]:
    """Swap, add or drop one demo (whichever applies), returning the new set and the move."""
    moves = []
    if demos:
        moves += ["swap", "drop"]
    if len(demos) < max_demos:
        moves.append("add")
    if not moves or not pool:
        return demos, "none"
    move = rng.choice(moves)
    if move == "swap":
        return swap_demo(demos, pool, rng, labels), move
    if move == "drop":
        return drop_demo(demos, rng), move
    return add_demo(demos, pool, rng, labels), move


def crossover_demos(a: Demos, b: Demos, rng: random.Random, max_demos: int) -> Demos:
    """A child demo set drawn from both parents' demos, its size between theirs (at most ``max_demos``)."""
    union = list(a) + [d for d in b if d.id not in {x.id for x in a}]
    low, high = sorted((len(a), len(b)))
    size = min(rng.randint(low, high), len(union), max_demos)
    return tuple(rng.sample(union, size))


def differential_demos(a: Demos, b: Demos, best: Demos, current: Demos, rng: random.Random,
                       max_demos: int) -> Demos:
    """DE on demo sets: ``best`` plus the demos ``a`` has and ``b`` lacks, crossed with ``current``."""
    in_b = {d.id for d in b}
    mutant = tuple(best) + tuple(d for d in a if d.id not in in_b and d.id not in {x.id for x in best})
    mutant = mutant[-max_demos:] if len(mutant) > max_demos else mutant
    return crossover_demos(mutant, current, rng, max_demos) if rng.random() < 0.5 else mutant


# --- selection and survival ------------------------------------------------------------------
def roulette(fitness: Sequence[float], rng: random.Random) -> int:
    """Index drawn with probability proportional to fitness (uniform when all are zero)."""
    total = sum(max(f, 0.0) for f in fitness)
    if total <= 0:
        return rng.randrange(len(fitness))
    point, acc = rng.random() * total, 0.0
    for index, value in enumerate(fitness):
        acc += max(value, 0.0)
        if point < acc:
            return index
    return len(fitness) - 1


def tournament(fitness: Sequence[float], rng: random.Random, size: int = 2) -> int:
    """Index of the fittest of ``size`` individuals drawn at random (the earliest wins ties)."""
    entrants = rng.sample(range(len(fitness)), min(size, len(fitness)))
    return max(sorted(entrants), key=lambda i: fitness[i])


def ga_survivors(individuals: Sequence[Individual], size: int) -> list[Individual]:
    """GA survival (mu + lambda, so elitist): the ``size`` fittest, the earliest trial first on ties."""
    return sorted(individuals, key=lambda i: (-i.fitness, i.trial))[:size]


def de_replace(slots: list[Individual], child: Individual, slot: int) -> list[Individual]:
    """DE survival: ``child`` fills an empty slot, or replaces its target if at least as fit."""
    slots = list(slots)
    if slot >= len(slots):
        slots.append(child)
    elif child.fitness >= slots[slot].fitness:
        slots[slot] = child
    return slots
