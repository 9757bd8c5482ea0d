"""``promptlift evaluate``: score a candidate on a split, calibration and soft prompt included."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path
from typing import Sequence

from promptlift import classification
from promptlift.budget import Budget
from promptlift.cache import ResponseCache
from promptlift.commands.common import add_model_arguments, add_task_arguments, backend_from_args, task_from_args
from promptlift.commands.outcome import per_class
from promptlift.errors import ConfigError
from promptlift.result import Trial
from promptlift.run import Run
from promptlift.tasks import Task
from promptlift.types import Candidate, Example


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    add_task_arguments(parser)
    add_model_arguments(parser)
    parser.add_argument("--candidate", help="best_candidate.json (or a candidate JSON); default: the task's seed")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"), help="which split (default: test)")
    parser.add_argument("--limit", type=int, help="score only the first N examples of the split")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    parser.add_argument("--show", type=int, default=0, metavar="N", help="print the first N predictions with feedback")
    parser.add_argument("--predictions", metavar="FILE", help="write every example's prediction as JSONL "
                                                              "(id, inputs, expected, prediction, score, feedback)")


def load_candidate(path: str, task: Task) -> Candidate:
    """A candidate from best_candidate.json (or a bare candidate JSON), checked against ``task``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: cannot read a candidate: {exc}") from None
    fields = data.get("candidate", data) if isinstance(data, dict) else None
    if not isinstance(fields, dict):
        raise ConfigError(f"{path}: not a candidate")
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(Candidate)})
    if unknown:
        raise ConfigError(f"{path}: not a candidate (unknown keys {unknown})")
    saved = data.get("choices")
    if saved is not None and (not isinstance(saved, list) or saved != list(task.choices)):
        raise ConfigError(f"{path}: written for task {data.get('task')!r} with choices {saved}; "
                          f"task {task.name!r} has {list(task.choices)}")
    try:
        candidate = Candidate.from_dict(fields)
        _check_types(candidate, task)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        raise ConfigError(f"{path}: not a usable candidate ({type(exc).__name__}: {str(exc)[:120]})") from None
    if candidate.calibration and len(candidate.calibration) != len(task.choices):
        raise ConfigError(f"{path}: {len(candidate.calibration)} calibration biases for the "
                          f"{len(task.choices)} choices of task {task.name!r}")
    return candidate


def _check_types(candidate: Candidate, task: Task) -> None:
    """A hand-edited file can hold any JSON: every field must have its type before anything renders it."""
    demos = candidate.demos + (candidate.retrieval.pool if candidate.retrieval else ())
    texts = [candidate.instruction, *candidate.verbalizer, *(d.output for d in demos),
             *(v for d in demos for v in (d.inputs.values() if isinstance(d.inputs, dict) else [None]))]
    if not all(isinstance(t, str) for t in texts) or not isinstance(candidate.soft_prompt, str | None):
        raise TypeError("instruction, demos, verbalizer and soft_prompt must hold text")
    if not all(math.isfinite(b) for b in candidate.calibration):
        raise ValueError("calibration biases must be finite numbers")
    hash(candidate)
    task.render(candidate, (task.val or task.test or task.train)[0])


def run(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be a whole number >= 1, got {args.limit}")
    task = task_from_args(args)
    candidate = load_candidate(args.candidate, task) if args.candidate else task.seed
    examples = task.splits()[args.split][: args.limit]
    if not examples:
        raise ConfigError(f"task {task.name!r} has no {args.split} examples")
    cache = None if args.no_cache else ResponseCache.default()
    run = Run(task, backend_from_args(args), budget=Budget(metric_calls=len(examples)), cache=cache)
    evaluation = run.evaluate(candidate, examples, role=args.split)
    trial = evaluation.trial
    for example_id, prediction, feedback in list(zip(trial.example_ids, trial.predictions, trial.feedback))[: args.show]:
        print(f"{example_id}: {prediction!r}  [{feedback}]")
    print(f"{task.name} {args.split}: {trial.mean:.4f} over {len(trial.scores)} examples "
          f"({trial.usage.calls} LM calls, {run.cache_hits} from cache, {trial.seconds:.1f}s)")
    info = classification.summarize(task, examples, {"candidate": trial}, args.split)
    if info:
        print(per_class(info, "candidate"))
        found = [classification.imbalance_warning(task), classification.one_label_warning(info, "candidate", "the candidate")]
        print("\n".join(f"warning: {w}" for w in found if w))
    if args.predictions:
        write_predictions(Path(args.predictions), examples, trial)
        print(f"predictions: {args.predictions}")
    return 0


def write_predictions(path: Path, examples: Sequence[Example], trial: Trial) -> None:
    """One JSON line per example: id, inputs, expected, prediction, score, feedback."""
    rows = (json.dumps({"id": e.id, "inputs": dict(e.inputs), "expected": e.output, "prediction": p, "score": s,
                        "feedback": f}, ensure_ascii=False)
            for e, p, s, f in zip(examples, trial.predictions, trial.scores, trial.feedback, strict=True))
    try:
        path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--predictions {path}: cannot write ({exc.strerror})") from None
