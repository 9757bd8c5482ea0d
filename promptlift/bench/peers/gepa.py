"""The gepa-package peer: the ``gepa`` package's optimize loop driven on a promptlift backend.

``PromptliftAdapter`` is a GEPAAdapter (evaluate + reflective dataset) that renders, answers
and scores through a promptlift task and backend; ``ReflectionModel`` is gepa's
``prompt -> text`` language model on the same backend. The task model is the reflection model.
The package's default reflection prompt and parsing are used; only the instruction of the
task's seed candidate is optimised. The package checks its budget between iterations, so it
may overshoot ``max_metric_calls``: calls are counted as they ran.

gepa is imported only here, when a gepa-package cell runs.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptlift.answers import answer, score_outside
from promptlift.bench.peers.common import Meter, settings
from promptlift.cache import CachedBackend, ResponseCache
from promptlift.tasks.fields import label
from promptlift.types import Candidate, Completion, Example, Message, Request

if TYPE_CHECKING:
    from promptlift.backends.base import Backend
    from promptlift.bench.config import Cell
    from promptlift.tasks.base import Task

log = logging.getLogger(__name__)
CHUNK = 32  # requests per backend call while the package evaluates a batch


@dataclass(frozen=True)
class GEPASettings:
    """The package's search settings, matched to promptlift's GEPA in the comparison: metric-call
    budget, reflection minibatch, the reflection model's temperature and token limit, merging."""

    budget: int = 300
    minibatch: int = 3
    temperature: float = 0.7
    proposal_tokens: int = 120
    no_merge: bool = False


class PromptliftAdapter:
    """A GEPAAdapter that renders, runs and scores through a promptlift task and backend."""

    propose_new_texts = None

    def __init__(self, task: Task, backend: Backend) -> None:
        self.task = task
        self.backend = backend
        self.metric_calls = 0

    def _complete(self, requests: list[Request]) -> list[Completion]:
        return [c for start in range(0, len(requests), CHUNK)
                for c in self.backend.complete(requests[start : start + CHUNK])]

    def evaluate(self, batch: list[Example], candidate: dict[str, str], capture_traces: bool = False) -> Any:
        from gepa.core.adapter import EvaluationBatch

        prompt = self.task.seed.with_(instruction=candidate["instruction"])
        completions = answer(self.task, prompt, batch, self._complete)
        scores = [self.task.score(e, c) for e, c in zip(batch, completions, strict=True)]
        self.metric_calls += len(batch)
        traces = None
        if capture_traces:
            traces = [{"example": e, "output": c.text, "feedback": s.feedback}
                      for e, c, s in zip(batch, completions, scores, strict=True)]
        return EvaluationBatch(outputs=[c.text for c in completions], scores=[s.value for s in scores],
                               trajectories=traces)

    def make_reflective_dataset(self, candidate: dict[str, str], eval_batch: Any,
                                components_to_update: list[str]) -> dict[str, list[dict[str, Any]]]:
        rows = [
            {
                "Inputs": {label(k): v for k, v in t["example"].inputs.items()},
                "Generated Outputs": t["output"],
                "Feedback": f"{t['feedback']} (correct answer: {t['example'].output})",
            }
            for t in eval_batch.trajectories
        ]
        return {name: rows for name in components_to_update}


class ReflectionModel:
    """gepa's LanguageModel (``prompt -> text``) on our backend, same settings as ours."""

    def __init__(self, backend: Backend, temperature: float, max_tokens: int) -> None:
        self.backend, self.temperature, self.max_tokens = backend, temperature, max_tokens
        self.calls = 0

    def __call__(self, prompt: str | list[dict[str, Any]]) -> str:
        messages = (Message("user", prompt),) if isinstance(prompt, str) else tuple(
            Message(m["role"], m["content"] if isinstance(m["content"], str) else str(m["content"])) for m in prompt)
        self.calls += 1
        request = Request(messages=messages, temperature=self.temperature, max_tokens=self.max_tokens,
                          sample=self.calls)
        return self.backend.complete([request])[0].text


class QuietLogger:
    def log(self, message: str) -> None:
        log.debug("gepa: %s", message)


SETTINGS = GEPASettings


def cell(variant: str, task: Task, backend: Meter, cell: Cell, run_dir: Path) -> dict[str, Any]:
    """A sweep cell's partial row: the package's search, then its best scored on test (off the meter)."""
    best, row = run(task, backend, cell.seed, settings(GEPASettings, cell), run_dir)
    test = None
    if task.test:
        values, _ = score_outside(task, best, backend.inner, task.test)
        test = sum(values) / len(values)
    return {**row, "test": test, "search_seconds": row.pop("wall_seconds"), "candidate": best.to_dict()}


def run(task: Task, backend: Backend, seed: int, config: GEPASettings, cache_dir: Path) -> tuple[Candidate, dict]:
    """The package's search on ``backend`` (behind its own response cache in ``cache_dir``)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # gepa imports litellm: stay offline
    import gepa

    cached = CachedBackend(backend, ResponseCache(cache_dir / f"gepa-{task.name}-{seed}.db"))
    adapter = PromptliftAdapter(task, cached)
    reflection = ReflectionModel(cached, config.temperature, config.proposal_tokens)
    optimize: Any = gepa.optimize  # typed for its own adapter class; ours follows its protocol
    started = time.perf_counter()
    result = optimize(
        seed_candidate={"instruction": task.seed.instruction}, trainset=list(task.train), valset=list(task.val),
        adapter=adapter, reflection_lm=reflection, max_metric_calls=config.budget,
        reflection_minibatch_size=config.minibatch, use_merge=not config.no_merge, max_merge_invocations=5,
        seed=seed, logger=QuietLogger(), display_progress_bar=False, raise_on_exception=True,
    )
    wall = time.perf_counter() - started
    best = task.seed.with_(instruction=result.best_candidate["instruction"])
    return best, {
        "val": result.val_aggregate_scores[result.best_idx], "metric_calls": adapter.metric_calls,
        "reported_metric_calls": result.total_metric_calls, "candidates": result.num_candidates,
        "proposer_calls": reflection.calls, "wall_seconds": wall,
        "pool": [[round(v, 4), c["instruction"][:160]] for v, c in zip(result.val_aggregate_scores, result.candidates)],
    }
