"""Trial and Result: what a run found, as versioned JSON, a DataFrame and plots."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from promptlift import safefile
from promptlift.objectives import COSTS
from promptlift.types import Candidate, Usage

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Trial:
    """One evaluation of one candidate on a list of examples.

    ``role`` says what the run scored it for, which is more than the data split it drew from:
    "val" a full validation (the trials ``best`` and the front choose from), "train" training
    examples (minibatches, feedback, bootstrapping), "minibatch" and "merge" subsets of the
    validation split (JointSearch's minibatches, GEPA's merge check: never selected from), "test"
    the test split after the search. ``info["stage"]`` names, finer, the optimizer's step that asked
    (seed, reflection, merge-check ...). Files written before the rename carry it as ``split``.
    A trial's ``scores`` are the metric's per-example values (``Task.score`` returns each as a
    ``Score`` with its feedback) and ``mean`` their aggregate, the trial's score: one word, the
    metric's value, at two grains (the objective "score" is ``mean``); "to score" computes them.
    ``metric_calls`` is the run's cumulative count after this trial (the x axis of plots);
    ``parents`` are trial numbers this candidate was derived from (lineage); ``info`` holds
    optimizer-specific facts (generation, strategy, ...). ``value`` is set under a corpus-level
    metric (``macro_f1``: computed over the split, not a mean), and ``mean`` then returns it.
    ``per_query`` holds what one query cost (``promptlift.objectives``: prompt and completion
    tokens, seconds, dollars); ``admissible`` is False over the run's ``max_prompt_tokens``, and
    ``scored`` False when the candidate was turned away before any model call (its scores are 0).
    ``proposal`` is what the proposer call(s) that wrote the candidate's instruction cost (GEPA
    reflections, genetic operators, JointSearch proposals; None otherwise): the same on every
    trial of that instruction, so count it once per instruction, not once per trial.
    """

    number: int
    candidate: Candidate
    role: str
    example_ids: tuple[str, ...]
    scores: tuple[float, ...]
    predictions: tuple[str, ...] = ()
    feedback: tuple[str, ...] = ()
    parents: tuple[int, ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)
    metric_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    value: float | None = None
    per_query: Mapping[str, float | None] = field(default_factory=dict)
    admissible: bool = True
    scored: bool = True
    proposal: Usage | None = None

    @property
    def mean(self) -> float:
        """The trial's value: the corpus metric's (``value``) or the mean of the scores."""
        if self.value is not None:
            return self.value
        return sum(self.scores) / len(self.scores) if self.scores else 0.0

    @property
    def split(self) -> str:
        """The old name of ``role`` (read-only; for code written before the rename)."""
        return self.role

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "role": self.role,
            "mean": self.mean,
            "candidate": self.candidate.to_dict(),
            "example_ids": list(self.example_ids),
            "scores": list(self.scores),
            "predictions": list(self.predictions),
            "feedback": list(self.feedback),
            "parents": list(self.parents),
            "info": dict(self.info),
            "metric_calls": self.metric_calls,
            "usage": self.usage.to_dict(),
            "seconds": round(self.seconds, 4),
            **({"value": self.value} if self.value is not None else {}),
            "per_query": dict(self.per_query),
            **({} if self.admissible else {"admissible": False}),
            **({} if self.scored else {"scored": False}),
            **({"proposal": self.proposal.to_dict()} if self.proposal is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trial:
        return cls(
            number=data["number"],
            candidate=Candidate.from_dict(data["candidate"]),
            role=data["role"] if "role" in data else data["split"],  # "split": files before the rename
            example_ids=tuple(data["example_ids"]),
            scores=tuple(data["scores"]),
            predictions=tuple(data.get("predictions", ())),
            feedback=tuple(data.get("feedback", ())),
            parents=tuple(data.get("parents", ())),
            info=data.get("info", {}),
            metric_calls=data.get("metric_calls", 0),
            usage=Usage.from_dict(data.get("usage", {})),
            seconds=data.get("seconds", 0.0),
            value=data.get("value"),
            per_query=data.get("per_query", {}),
            admissible=data.get("admissible", True),
            scored=data.get("scored", True),
            proposal=Usage.from_dict(data["proposal"]) if data.get("proposal") is not None else None,
        )


@dataclass(frozen=True)
class Result:
    """The outcome of ``Optimizer.optimize``.

    ``best`` is the trial with the highest validation mean (the earliest on ties);
    ``baseline`` the seed candidate's validation trial. Test scores are measured after the
    search, outside the budget, and are None if the run was interrupted first; ``test_trials``
    hold those scorings with every prediction (the seed's first, then the best's when it
    differs; ``predictions()`` reads them). ``classification`` holds the baselines, per-class
    metrics and confusion matrices of a classification task (``promptlift.classification``),
    ``warnings`` what the run found suspicious; ``search_seconds`` and ``test_seconds`` split
    ``wall_seconds`` into the search and the test scoring after it. ``front`` holds the validation
    trials on the Pareto front of ``objectives`` (``promptlift.objectives``); under
    ``max_prompt_tokens`` only admissible trials are on it, and ``best`` is the best admissible one.
    """

    task: str
    backend: str
    optimizer: str
    config: Mapping[str, Any]
    seed: int
    best: Trial
    baseline: Trial
    trials: tuple[Trial, ...]
    best_test: float | None = None
    baseline_test: float | None = None
    usage: Usage = field(default_factory=Usage)
    metric_calls: int = 0
    cache_hits: int = 0
    wall_seconds: float = 0.0
    stopped_by: str | None = None
    schema_version: int = SCHEMA_VERSION
    test_trials: tuple[Trial, ...] = ()
    classification: Mapping[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    search_seconds: float | None = None
    test_seconds: float | None = None
    objectives: tuple[str, ...] = ("score",)
    front: tuple[Trial, ...] = ()
    max_prompt_tokens: int | None = None

    @property
    def best_candidate(self) -> Candidate:
        return self.best.candidate

    @property
    def lift(self) -> float | None:
        """Test-score lift of the best candidate over the seed (None without test scores)."""
        if self.best_test is None or self.baseline_test is None:
            return None
        return self.best_test - self.baseline_test

    def predictions(self, which: str = "best", split: str = "test") -> list[dict[str, Any]]:
        """Per-example predictions of the ``best`` or ``baseline`` candidate on ``split`` ("test" or
        "val"): one dict per example with ``id``, ``prediction``, ``score`` and ``feedback``."""
        if which not in ("best", "baseline") or split not in ("test", "val"):
            raise ValueError(f"predictions(which, split): which is 'best' or 'baseline', split 'test' or 'val'; "
                             f"got {which!r}, {split!r}")
        trial = getattr(self, which)
        if split == "test":
            trial = next((t for t in self.test_trials if t.candidate == trial.candidate), None)
            if trial is None:
                return []
        return [{"id": i, "prediction": p, "score": s, "feedback": f}
                for i, p, s, f in zip(trial.example_ids, trial.predictions, trial.scores, trial.feedback)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "task": self.task,
            "backend": self.backend,
            "optimizer": self.optimizer,
            "config": dict(self.config),
            "seed": self.seed,
            "best_trial": self.best.number,
            "baseline_trial": self.baseline.number,
            "best_val": self.best.mean,
            "baseline_val": self.baseline.mean,
            "best_test": self.best_test,
            "baseline_test": self.baseline_test,
            "usage": self.usage.to_dict(),
            "metric_calls": self.metric_calls,
            "cache_hits": self.cache_hits,
            "wall_seconds": round(self.wall_seconds, 3),
            "stopped_by": self.stopped_by,
            "search_seconds": None if self.search_seconds is None else round(self.search_seconds, 3),
            "test_seconds": None if self.test_seconds is None else round(self.test_seconds, 3),
            "warnings": list(self.warnings),
            "classification": self.classification,
            "objectives": list(self.objectives),
            "max_prompt_tokens": self.max_prompt_tokens,
            "front": [t.number for t in self.front],
            "trials": [t.to_dict() for t in self.trials],
            "test_trials": [t.to_dict() for t in self.test_trials],
        }

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=1, ensure_ascii=False)
        if path is not None:
            safefile.write_text(path, text)
        return text

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"result schema version {version!r} is not supported (expected {SCHEMA_VERSION})")
        trials = tuple(Trial.from_dict(t) for t in data["trials"])
        by_number = {t.number: t for t in trials}
        return cls(
            task=data["task"],
            backend=data["backend"],
            optimizer=data["optimizer"],
            config=data["config"],
            seed=data["seed"],
            best=by_number[data["best_trial"]],
            baseline=by_number[data["baseline_trial"]],
            trials=trials,
            best_test=data.get("best_test"),
            baseline_test=data.get("baseline_test"),
            usage=Usage.from_dict(data.get("usage", {})),
            metric_calls=data.get("metric_calls", 0),
            cache_hits=data.get("cache_hits", 0),
            wall_seconds=data.get("wall_seconds", 0.0),
            stopped_by=data.get("stopped_by"),
            test_trials=tuple(Trial.from_dict(t) for t in data.get("test_trials", ())),
            classification=data.get("classification"),
            warnings=tuple(data.get("warnings", ())),
            search_seconds=data.get("search_seconds"),
            test_seconds=data.get("test_seconds"),
            objectives=tuple(data.get("objectives", ("score",))),
            front=tuple(by_number[n] for n in data.get("front", ())),
            max_prompt_tokens=data.get("max_prompt_tokens"),
        )

    @classmethod
    def from_json(cls, source: str | Path) -> Result:
        """From a JSON string or a path to result.json."""
        text = Path(source).read_text(encoding="utf-8") if not str(source).lstrip().startswith("{") else str(source)
        return cls.from_dict(json.loads(text))

    def to_dataframe(self):  # -> pandas.DataFrame
        """One row per trial: number, role, mean, n, cumulative metric calls, lineage, candidate, and
        the objectives (per query: prompt_tokens, completion_tokens, seconds_per_query, dollars;
        admissible, on_front) and what the candidate's proposal cost (``proposal_tokens``,
        ``_dollars``, ``_seconds``; None for a candidate no proposer call wrote)."""
        import pandas as pd

        on_front = {t.number for t in self.front}
        rows = [
            {
                "trial": t.number,
                "role": t.role,
                "mean": t.mean,
                "n": len(t.scores),
                "metric_calls": t.metric_calls,
                "parents": list(t.parents),
                "instruction": t.candidate.instruction,
                "n_demos": len(t.candidate.demos),
                "format": t.candidate.format,
                "candidate": t.candidate.key,
                "seconds": t.seconds,
                **{("seconds_per_query" if k == "seconds" else k): t.per_query.get(k) for k in COSTS},
                "admissible": t.admissible,
                "on_front": t.number in on_front,
                **_proposal_columns(t.proposal),
                **{f"info.{k}": v for k, v in t.info.items()},
            }
            for t in self.trials
        ]
        return pd.DataFrame(rows)

    def plot(self, path: str | Path | None = None, x: str | None = None):
        """Validation score against ``x``: "metric_calls" (with the best-so-far line) or "prompt_tokens"
        (per query, the Pareto front highlighted); by default prompt tokens when they are an
        objective, else metric calls. Saved if ``path``."""
        from promptlift.plots import score_over_calls, score_over_prompt_tokens

        x = x or ("prompt_tokens" if "prompt_tokens" in self.objectives else "metric_calls")
        if x not in ("metric_calls", "prompt_tokens"):
            raise ValueError(f"plot(x=...) is 'metric_calls' or 'prompt_tokens'; got {x!r}")
        return (score_over_prompt_tokens if x == "prompt_tokens" else score_over_calls)(self, path)


def _proposal_columns(usage: Usage | None) -> dict[str, Any]:
    if usage is None:
        return {"proposal_tokens": None, "proposal_dollars": None, "proposal_seconds": None}
    return {"proposal_tokens": usage.tokens, "proposal_dollars": usage.dollars, "proposal_seconds": usage.seconds}
