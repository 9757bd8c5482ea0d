"""``promptlift optimize``: run an optimizer on a task and a model, print baseline vs best."""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable

from promptlift import safefile
from promptlift.backends.base import Backend
from promptlift.budget import Budget
from promptlift.cache import ResponseCache
from promptlift.callbacks import Callback, ProgressBar
from promptlift.classification import imbalance_warning
from promptlift.commands.common import (
    add_model_arguments,
    add_task_arguments,
    backend_from_args,
    is_data_file,
    key_values,
    task_from_args,
)
from promptlift.commands.fit import fit_val, has_split_column
from promptlift.commands.outcome import report, summary
from promptlift.commands.resume import CLI_FILE, load_saved, refuse_secrets, unconfirmed_endpoints
from promptlift.errors import ConfigError
from promptlift.objectives import OBJECTIVES
from promptlift.objectives import parse as parse_objectives
from promptlift.optimizers.auto import Auto
from promptlift.optimizers.base import Optimizer
from promptlift.optimizers.plan import Plan
from promptlift.optimizers.registry import OPTIMIZERS, get_optimizer
from promptlift.result import Trial
from promptlift.run import Run
from promptlift.tasks.base import Task
from promptlift.tracking import MLflowCallback

log = logging.getLogger(__name__)

PLAN_FILE = "plan.json"
RESUMABLE = ("task", "input_fields", "output_field", "metric", "choices", "sizes", "model", "model_option", "proposer",
             "optimizer", "param", "budget", "max_seconds", "max_tokens", "seed", "objective", "max_prompt_tokens")


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    add_task_arguments(parser)
    add_model_arguments(parser)
    parser.add_argument("--proposer", help="ENGINE:MODEL that writes new instructions (default: the task model)")
    search = parser.add_argument_group("search")
    search.add_argument("--optimizer", default="auto", help=f"one of: {', '.join(OPTIMIZERS)} (default: auto, which "
                                                            "chooses from the task and the budget and says why)")
    search.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="an optimizer hyperparameter, e.g. --param k=8 (repeatable; values are JSON or text)")
    search.add_argument("--budget", type=count(1, 10**9), default=400,
                        help="metric calls (examples scored) for the search (default: 400)")
    search.add_argument("--max-seconds", type=seconds, help="stop the search after this many seconds")
    search.add_argument("--max-tokens", type=count(1), help="stop the search after this many tokens (task + proposer)")
    search.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    search.add_argument("--dry-run", action="store_true",
                        help="print the plan (metric calls, LM calls and tokens of the task model and the proposer, "
                             "dollars, seconds, whether the budget pays for a proposal) and exit without a model call")
    search.add_argument("--objective", type=objective_names, default="score",
                        help="objectives of the Pareto front kept over validation, e.g. score,prompt_tokens "
                             f"(from: {', '.join(OBJECTIVES)}; default: score)")
    search.add_argument("--max-prompt-tokens", type=count(1), metavar="N",
                        help="a candidate over N prompt tokens per query is inadmissible, in every optimizer")
    out = parser.add_argument_group("output")
    out.add_argument("--run-dir",
                     help="directory for config, trials, result and best candidate (default: runs/TASK-OPTIMIZER-TIME)")
    out.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run: replays finished work from the cache")
    out.add_argument("--allow-endpoint", action="append", default=[], metavar="URL",
                     help="with --resume: let the run send requests (and your API key) to this recorded URL (repeatable)")
    out.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    out.add_argument("--json", action="store_true", help="print the result summary as JSON")
    out.add_argument("--mlflow", metavar="TRACKING_URI", help="also log the run to MLflow (e.g. sqlite:///mlflow.db; "
                                                          "needs the mlflow extra)")


def count(low: int, high: int = 10**12) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high] (a larger budget is a typo, and would never end)."""
    def parse(text: str) -> int:
        if not re.fullmatch(r"\s*[0-9]{1,13}\s*", text) or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number in [{low}, {high:.0e}], got {text!r}")
        return int(text)
    return parse


def objective_names(text: str) -> str:
    """An argparse type: comma-separated objective names (checked, kept as text for cli.json)."""
    try:
        return ",".join(parse_objectives(text))
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    if args.resume:
        args = _resumed(args)
    refuse_secrets(args)
    task = task_from_args(args)
    ours = not args.sizes and not (is_data_file(args.task) and has_split_column(args.task))
    task, note = fit_val(task, args.budget, ours=ours)
    if note:
        print(f"note: {note}", file=sys.stderr)
    optimizer = get_optimizer(args.optimizer, **key_values(args.param, "--param"))  # a typo fails before a model loads
    backend = backend_from_args(args)
    proposer = backend_from_args(args, args.proposer) if args.proposer else None
    budget = Budget(metric_calls=args.budget, seconds=args.max_seconds, tokens=args.max_tokens)
    callbacks: list[Any] = [] if args.no_progress else [ProgressBar(file=sys.stderr)]
    if getattr(args, "mlflow", None):
        callbacks.append(MLflowCallback(args.mlflow))
    imbalanced = imbalance_warning(task)
    if imbalanced:
        print(f"warning: {imbalanced}", file=sys.stderr)
    if isinstance(optimizer, Auto):
        choice = optimizer.choose(task, backend, budget)
        print(f"auto: {choice.reason}", file=sys.stderr)
        optimizer = choice.optimizer
    cache = None if args.no_cache else ResponseCache.default()
    plan = planned(optimizer, task, backend, budget, proposer, cache, dry_run=args.dry_run)
    if args.dry_run:
        print(json.dumps(plan.to_dict(), indent=1) if args.json else plan)
        return 0
    run_dir = Path(args.run_dir or f"runs/{task.name}-{args.optimizer}-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir.mkdir(parents=True, exist_ok=True)
    saved = {k: getattr(args, k, None) for k in (*RESUMABLE, "no_cache")}
    safefile.write_text(run_dir / CLI_FILE, json.dumps(saved, indent=1))
    safefile.write_text(run_dir / PLAN_FILE, json.dumps(plan.to_dict(), indent=1))
    if plan.seconds is None and cache is not None:
        callbacks.append(TimeEstimate(lambda: optimizer.plan(task, backend, budget, proposer=proposer, cache=cache),
                                      run_dir / PLAN_FILE))
    try:
        result = optimizer.optimize(
            task, backend, budget=budget, seed=args.seed, proposer=proposer, run_dir=run_dir,
            callbacks=callbacks, cache=cache,
            objectives=args.objective or "score", max_prompt_tokens=args.max_prompt_tokens,
        )
    except KeyboardInterrupt:
        print(f"interrupted: what was done is in {run_dir}; continue with: promptlift optimize --resume {run_dir}",
              file=sys.stderr)
        return 130
    print(json.dumps(summary(result, run_dir), indent=1) if args.json else report(result, run_dir))
    return 0


def planned(optimizer: Optimizer, task: Task, backend: Backend, budget: Budget, proposer: Backend | None,
            cache: ResponseCache | None, *, dry_run: bool) -> Plan:
    """The run's plan, printed as its first line (a dry run prints the whole plan instead). A
    budget that cannot validate one candidate after the seed is a ConfigError naming the smallest
    that can. Without a stored rate the time is unknown until the run's first calls are timed
    (:class:`TimeEstimate` then prints it)."""
    plan = optimizer.plan(task, backend, budget, proposer=proposer, cache=cache)
    if plan.affordable is False:
        raise ConfigError(f"--budget {budget.metric_calls} cannot pay for {plan.first} after the seed with "
                          f"{plan.optimizer} ({len(task.val)} validation examples): use --budget {plan.min_budget} "
                          "or more (--dry-run shows the plan)")
    if not dry_run:
        print(plan.line(), file=sys.stderr)
    return plan


def _resumed(args: argparse.Namespace) -> argparse.Namespace:
    saved = load_saved(args.resume)
    defaults = _defaults()
    changed = [k for k in RESUMABLE if getattr(args, k, None) != defaults[k] and getattr(args, k, None) != saved.get(k)]
    if changed:
        flags = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise ConfigError(f"--resume {args.resume} continues that run as it was started; {flags} cannot change it "
                          "(start a new run with --run-dir instead)")
    unconfirmed = unconfirmed_endpoints(saved, args)
    if unconfirmed:
        urls = " ".join(unconfirmed)
        raise ConfigError(f"--resume {args.resume}: its cli.json sends requests, with your API key, to {urls}; a run "
                          "directory may come from elsewhere: if you trust that address, add "
                          + " ".join(f"--allow-endpoint {u}" for u in unconfirmed))
    if saved.get("no_cache"):
        log.warning("%s was started with --no-cache: nothing was kept to replay, so it runs again from the start",
                    args.resume)
    merged = vars(args) | {k: saved.get(k) for k in (*RESUMABLE, "no_cache")}
    merged["run_dir"] = args.resume
    return argparse.Namespace(**merged)


def _defaults() -> dict[str, Any]:
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser, "optimize")
    return vars(parser.parse_args([]))


class TimeEstimate(Callback):
    """The plan's time, once the run's first calls are timed: on a fresh cache the first line
    says "time unknown"; after each trial the plan is made again (no model call) from the
    timings its answers stored, until it has a time (scoring calls are timed by the seed's
    validation; a proposer's generation by its first three answers), which is printed on a line of its
    own and added to plan.json (``seconds_timed``)."""

    def __init__(self, replan: Callable[[], Plan], path: Path) -> None:
        self._replan, self._path, self._done = replan, path, False

    def on_trial(self, run: Run, trial: Trial) -> None:
        if self._done or trial.role == "test":
            return
        plan = self._replan()
        if plan.seconds is None:  # e.g. the proposer has not answered yet
            return
        self._done = True
        print(f"plan: the search takes ~{plan.seconds:.0f} s (timed on the run's first calls)", file=sys.stderr)
        before = json.loads(self._path.read_text())  # the plan stays the one made before the run
        safefile.write_text(self._path, json.dumps({**before, "seconds_timed": plan.seconds}, indent=1))
