"""The prompt-token cap: which candidates a run scores at all (``Run(max_prompt_tokens=...)``).

A candidate's prompt tokens per query are counted once, on the validation split, by the
backend's own tokenizer and without a model call (``objectives.prompt_tokens``). Over the cap
it is *turned away*: ``Run`` records a trial of zeros that cost no model and no metric call,
the same in every optimizer. A validation trial whose measured prompts ran over a cap the
count allowed is recorded as inadmissible too (estimated within, reported over). The seed
must fit: it is the baseline every candidate is compared with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from promptlift import objectives
from promptlift.backends.base import Backend
from promptlift.checks import is_int
from promptlift.errors import ConfigError
from promptlift.result import Trial
from promptlift.types import Candidate, Example

if TYPE_CHECKING:
    from promptlift.tasks.base import Task


class PromptCap:
    """A run's ``max_prompt_tokens`` (None: no cap) and the prompt lengths it has counted."""

    def __init__(self, task: Task, model: Backend, limit: int | None) -> None:
        if limit is not None and not is_int(limit, 1):
            raise ConfigError(f"The 'max_prompt_tokens' option of Run must be an int >= 1. Got {limit!r}.")
        self.task, self.model, self.limit = task, model, limit
        self._lengths: dict[str, float] = {}

    def tokens(self, candidate: Candidate) -> float:
        """``candidate``'s prompt tokens per query on the validation split (counted once)."""
        if candidate.key not in self._lengths:
            self._lengths[candidate.key] = objectives.prompt_tokens(self.task, candidate, self.model, self.task.val)
        return self._lengths[candidate.key]

    def admits(self, candidate: Candidate) -> bool:
        """Whether ``candidate`` fits (always, without a cap); a seed over the cap is a ConfigError."""
        if self.limit is None or self.fits(self.tokens(candidate)):
            return True
        if candidate == self.task.seed:
            raise ConfigError(f"the seed candidate needs {self.tokens(candidate):.0f} prompt tokens per query, "
                              f"over max_prompt_tokens={self.limit}; raise the cap")
        return False

    def fits(self, tokens: float | None) -> bool:
        return self.limit is None or tokens is None or tokens <= self.limit

    def warnings(self, val: Sequence[Trial]) -> list[str]:
        """What the result must say about the cap: nothing validated fitted it."""
        if self.limit is None or not val or any(t.admissible for t in val):
            return []
        return [f"no validated candidate fitted max_prompt_tokens={self.limit} (the seed measured "
                f"{val[0].per_query.get('prompt_tokens') or 0:.0f}); the best shown is the seed"]

    def refusal(self, number: int, candidate: Candidate, examples: Sequence[Example], role: str,
                parents: tuple[int, ...], info: dict[str, Any] | None, metric_calls: int) -> Trial:
        """The trial of an over-cap candidate: scores 0, no model call, no metric call spent."""
        tokens = self.tokens(candidate)
        why = f"inadmissible: {tokens:.0f} prompt tokens per query > max_prompt_tokens {self.limit}"
        n = len(examples)
        return Trial(number=number, candidate=candidate, role=role, example_ids=tuple(e.id for e in examples),
                     scores=(0.0,) * n, predictions=("",) * n, feedback=(why,) * n, parents=parents,
                     info=info or {}, metric_calls=metric_calls, per_query={"prompt_tokens": tokens},
                     admissible=False, scored=False)
