"""The candidate pool of GEPA and its per-example Pareto frontier on the validation split.

Every pool entry holds one candidate with its per-example validation scores. For each
validation example the *front* is the set of entries with the best score on it; an entry
*leads* an example when it is on that example's front. Entries whose every front also holds
another surviving entry are dominated and dropped (the least-scoring first, as in GEPA);
the parent of the next mutation is drawn from the survivors, weighted by how many examples
each one leads. So a candidate that is best on a few hard examples keeps a chance to be
improved even when its mean score is lower.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from promptlift.types import Candidate


@dataclass(frozen=True)
class PoolEntry:
    """One entry of the pool: a candidate, its validation trial and per-example validation scores.

    ``parents`` are the pool indices it was derived from (empty for the seed).
    """

    index: int
    trial: int
    candidate: Candidate
    scores: Mapping[str, float]
    parents: tuple[int, ...] = ()

    @property
    def mean(self) -> float:
        return sum(self.scores.values()) / len(self.scores) if self.scores else 0.0


@dataclass
class Pool:
    """All candidates validated so far, in the order they were added (the seed first)."""

    entries: list[PoolEntry] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> PoolEntry:
        return self.entries[index]

    def add(self, candidate: Candidate, trial: int, example_ids: Sequence[str], scores: Sequence[float],
            parents: Sequence[int] = ()) -> PoolEntry:
        """Add a validated candidate; ``parents`` are pool indices."""
        entry = PoolEntry(len(self.entries), trial, candidate, dict(zip(example_ids, scores, strict=True)),
                          tuple(parents))
        self.entries.append(entry)
        return entry

    def by_trial(self, trial: int) -> PoolEntry | None:
        return next((e for e in self.entries if e.trial == trial), None)

    def fronts(self) -> dict[str, set[int]]:
        """For each validation example with a best score > 0, the entries that reach it."""
        best: dict[str, float] = {}
        for entry in self.entries:
            for example_id, score in entry.scores.items():
                best[example_id] = max(best.get(example_id, score), score)
        return {
            example_id: {e.index for e in self.entries if e.scores.get(example_id) == top}
            for example_id, top in best.items()
            if top > 0
        }

    def leaders(self) -> dict[int, int]:
        """Non-dominated entries and the number of examples each one leads."""
        fronts = self.fronts()
        alive = set().union(*fronts.values()) if fronts else set()
        for index in sorted(alive, key=lambda i: (self.entries[i].mean, -i)):
            others = alive - {index}
            if all(front & others for front in fronts.values() if index in front):
                alive = others
        counts = {i: sum(i in front for front in fronts.values()) for i in sorted(alive)}
        return {i: n for i, n in counts.items() if n > 0}

    def best(self) -> PoolEntry:
        """The entry with the highest mean (the earliest on ties)."""
        return max(self.entries, key=lambda e: (e.mean, -e.index))

    def select(self, rng: random.Random) -> PoolEntry:
        """A parent drawn from the frontier, weighted by the examples it leads.

        With no example solved by anyone, the best mean (the seed at first) is the parent.
        """
        leaders = self.leaders()
        if not leaders:
            return self.best()
        indices = list(leaders)
        return self.entries[rng.choices(indices, weights=[leaders[i] for i in indices], k=1)[0]]

    def ancestors(self, index: int) -> set[int]:
        """Every pool index ``index`` descends from (not itself)."""
        found: set[int] = set()
        stack = list(self.entries[index].parents)
        while stack:
            parent = stack.pop()
            if parent not in found:
                found.add(parent)
                stack.extend(self.entries[parent].parents)
        return found

    def merge_triplet(self, rng: random.Random, tried: set[tuple[int, int, int]],
                      attempts: int = 10) -> tuple[PoolEntry, PoolEntry, PoolEntry] | None:
        """Two frontier entries and a common ancestor no better than either, not tried before.

        Neither entry may descend from the other. Returns ``(a, b, ancestor)`` or None.
        """
        frontier = sorted(self.leaders())
        if len(frontier) < 2:
            return None
        for _ in range(attempts):
            i, j = sorted(rng.sample(frontier, 2))
            ancestors_i, ancestors_j = self.ancestors(i), self.ancestors(j)
            if i in ancestors_j or j in ancestors_i:
                continue
            worst = min(self.entries[i].mean, self.entries[j].mean)
            common = sorted(a for a in ancestors_i & ancestors_j
                            if (i, j, a) not in tried and self.entries[a].mean <= worst)
            if common:
                a = rng.choice(common)
                return self.entries[i], self.entries[j], self.entries[a]
        return None

    def disagreement(self, a: PoolEntry, b: PoolEntry, k: int, rng: random.Random) -> list[str]:
        """Up to ``k`` validation example ids: where ``a`` wins, where ``b`` wins, then ties."""
        shared = sorted(set(a.scores) & set(b.scores))
        buckets = (
            [e for e in shared if a.scores[e] > b.scores[e]],
            [e for e in shared if b.scores[e] > a.scores[e]],
            [e for e in shared if a.scores[e] == b.scores[e]],
        )
        share = max(1, -(-k // 3))
        chosen: list[str] = []
        for bucket in buckets:
            chosen += rng.sample(bucket, min(len(bucket), share, k - len(chosen)))
        rest = [e for e in shared if e not in chosen]
        chosen += rng.sample(rest, min(len(rest), k - len(chosen)))
        return chosen
