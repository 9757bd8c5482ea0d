"""The few-shot family under a ``max_prompt_tokens`` cap: draw fewer, shorter demos rather than waste a proposal.

``Run`` turns an over-cap candidate away before scoring it; a demo set drawn blind to the cap would
then be a proposal spent on nothing. ``fit_demos`` drops the longest demo until the candidate fits
(counted as ``Run.admissible`` counts it), so every draw yields a candidate that can be scored.
"""

from __future__ import annotations

from promptlift.run import Run
from promptlift.types import Candidate, Example


def fit_demos(run: Run, candidate: Candidate) -> Candidate:
    """``candidate`` with its longest demos dropped until it fits the run's cap (as it is without one)."""
    while candidate.demos and run.max_prompt_tokens is not None and not run.admissible(candidate):
        longest = max(candidate.demos, key=_length)
        candidate = candidate.with_(demos=tuple(d for d in candidate.demos if d is not longest))
    return candidate


def _length(demo: Example) -> int:
    return sum(len(str(v)) for v in demo.inputs.values()) + len(str(demo.output)) + len(demo.reasoning)
