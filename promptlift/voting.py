"""Self-consistency: a candidate with ``votes`` > 1 answers by majority over sampled answers.

Each input is asked ``votes`` times at ``TEMPERATURE`` (sample numbers 1..votes, so the
response cache keeps each draw and a re-run replays them), every answer is resolved as the
task resolves a single one (a reasoning candidate's rationale is parsed off), and the most
frequent parsed answer wins (the earliest on a tie). No labels are used at inference: this
is best-of-N without a verifier (Wang et al. 2022). Generation tasks only: a choice-scored
task has one deterministic ranking, nothing to sample.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Sequence

from promptlift.errors import ConfigError
from promptlift.types import Candidate, Completion, Request, Usage

TEMPERATURE = 0.7
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def expand(task: Any, candidate: Candidate, requests: Sequence[Request]) -> list[Request]:
    """Each request ``candidate.votes`` times, sampled."""
    if task.choices:
        raise ConfigError(f"votes (best-of-N) need a generation task; {task.name!r} scores choices")
    return [replace(r, temperature=TEMPERATURE, sample=j) for r in requests for j in range(1, candidate.votes + 1)]


def majority(task: Any, candidate: Candidate, draws: Sequence[Completion]) -> Completion:
    """The winning answer among one input's resolved ``draws``, carrying the draws' summed usage."""
    resolved = [task.resolve(candidate, c) for c in draws]
    keys = [answer_key(task, c.text) for c in resolved]
    winner = max(keys, key=lambda k: (keys.count(k), -keys.index(k)))
    usage = sum((c.usage for c in draws), Usage())
    return replace(resolved[keys.index(winner)], usage=usage, cached=all(c.cached for c in draws))


def answer_key(task: Any, text: str) -> str:
    """What votes are counted on: the last number for a numeric metric, else the normalised text."""
    if task.metric_name == "number":
        numbers = _NUMBER.findall(text.replace(",", ""))
        if numbers:
            return str(float(numbers[-1]))
    return " ".join(text.lower().split()).strip(" .")
