"""Benchmark: promptlift's GEPA against the ``gepa`` package, on the same model and budget.

Both optimise the instruction of the task's seed candidate. Both evaluate through the same
promptlift backend (one llama.cpp model, wrapped per run in a fresh response cache, so
repeated identical calls are free for both); the task model is also the reflection model
(same temperature and token limit for both); both get the same metric-call budget,
minibatch size and merge setting, on the same splits and the same seeds. The ``gepa``
package is driven through ``PromptliftAdapter`` (a GEPAAdapter: evaluate + reflective
dataset on our backend, in ``promptlift.bench.peers.gepa``: the sweep's gepa-package peer);
its default reflection prompt and parsing are used. The same comparison as a sweep:
``promptlift bench benchmarks/configs/gepa_vs_gepa.yaml``.

Wall time covers the search only (seed validation included for both); test scores are
measured afterwards for the best candidate of each, through a shared scoring cache.

    .venv/bin/python benchmarks/gepa_vs_gepa.py                       # sentiment + arithmetic, 3 seeds
    .venv/bin/python benchmarks/gepa_vs_gepa.py --tasks sentiment --seeds 0 --budget 120 --val 20 --test 40
    .venv/bin/python benchmarks/gepa_vs_gepa.py --combine a.json b.json     # merge per-task sweeps

Writes ``benchmarks/results/gepa_vs_gepa.json`` (every run) and ``gepa_vs_gepa.md``
(mean ± std over seeds). Timings are wall-clock on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # gepa imports litellm: stay offline

from promptlift import Budget, ResponseCache, get_task, load_backend  # noqa: E402
from promptlift.answers import score_outside  # noqa: E402
from promptlift.bench import micro  # noqa: E402
from promptlift.bench.peers import gepa as peer  # noqa: E402
from promptlift.cache import CachedBackend  # noqa: E402
from promptlift.optimizers.gepa import GEPA  # noqa: E402
from promptlift.tasks.base import Task  # noqa: E402
from promptlift.types import Candidate  # noqa: E402

log = logging.getLogger("benchmarks.gepa_vs_gepa")
RESULTS = Path(__file__).parent / "results"
FRAMEWORKS = ("gepa", "promptlift")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = micro.parser(__doc__)
    parser.add_argument("--model", default="llamacpp:smollm2")
    parser.add_argument("--tasks", default="sentiment,arithmetic")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--train", type=int, default=100)
    parser.add_argument("--val", type=int, default=50)
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--budget", type=int, default=300, help="metric calls per run (default: 300)")
    parser.add_argument("--minibatch", type=int, default=3)
    parser.add_argument("--temperature", type=float, default=0.7, help="reflection sampling temperature")
    parser.add_argument("--proposal-tokens", type=int, default=120, help="reflection answer token limit")
    parser.add_argument("--no-merge", action="store_true")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="which to run (default: both)")
    parser.add_argument("--calibrate", default=None, choices=("contextual", "batch"),
                        help="promptlift's GEPA only: calibrate each candidate (the package has no calibration)")
    parser.add_argument("--label", default=None,
                        help="the name of promptlift's rows (default: promptlift, promptlift+cal with --calibrate)")
    parser.add_argument("--out", default=str(RESULTS / "gepa_vs_gepa"), help="output path without suffix")
    parser.add_argument("--combine", nargs="+", metavar="JSON",
                        help="no runs: combine the result files of earlier (e.g. per-task parallel) sweeps")
    return parser.parse_args(argv)


# --- the two searches -----------------------------------------------------------------------
def run_gepa_package(task: Task, backend: Any, seed: int, args: argparse.Namespace, cache_dir: Path):
    """The sweep's gepa-package peer (``promptlift.bench.peers.gepa``) with this script's settings."""
    config = peer.GEPASettings(budget=args.budget, minibatch=args.minibatch, temperature=args.temperature,
                               proposal_tokens=args.proposal_tokens, no_merge=args.no_merge)
    return peer.run(task, backend, seed, config, cache_dir)


def run_promptlift(task: Task, backend: Any, seed: int, args: argparse.Namespace, cache_dir: Path):
    gepa = GEPA(minibatch_size=args.minibatch, temperature=args.temperature, proposal_tokens=args.proposal_tokens,
                merge=not args.no_merge, max_merges=5, calibrate=args.calibrate)
    cache = ResponseCache(cache_dir / f"promptlift-{task.name}-{seed}.db")
    result = gepa.optimize(task, backend, budget=Budget(metric_calls=args.budget), seed=seed, cache=cache,
                           evaluate_test=False)
    proposer_calls = result.usage.calls - sum(len(t.scores) for t in result.trials)
    return result.best_candidate, {
        "val": result.best.mean, "metric_calls": result.metric_calls,
        "candidates": sum(t.role == "val" for t in result.trials),
        "proposer_calls": proposer_calls, "wall_seconds": result.wall_seconds,
        "pool": [[round(t.mean, 4), t.candidate.instruction[:160]] for t in result.trials if t.role == "val"],
    }


RUNNERS = {"gepa": run_gepa_package, "promptlift": run_promptlift}


# --- the sweep -----------------------------------------------------------------------------------
def test_score(task: Task, backend: Any, candidate: Candidate, cache: ResponseCache) -> float:
    values, _ = score_outside(task, candidate, CachedBackend(backend, cache), task.test)
    return sum(values) / len(values)


def sweep(args: argparse.Namespace) -> list[dict[str, Any]]:
    backend = load_backend(args.model)
    import gepa  # noqa: F401  (imported once, outside the timed runs)

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gepa-bench-") as tmp:
        cache_dir = Path(tmp)
        scoring = ResponseCache(cache_dir / "scoring.db")
        for name in args.tasks.split(","):
            task = get_task(name, sizes=(args.train, args.val, args.test))
            baseline = test_score(task, backend, task.seed, scoring)
            chosen = tuple(f for f in FRAMEWORKS if f in args.frameworks.split(","))
            for i, seed in enumerate(int(s) for s in args.seeds.split(",")):
                order = chosen if i % 2 == 0 else chosen[::-1]  # alternate who runs first
                for framework in order:
                    best, row = RUNNERS[framework](task, backend, seed, args, cache_dir)
                    row.update(task=name, seed=seed, framework=row_name(framework, args), budget=args.budget,
                               baseline_test=baseline,
                               test=test_score(task, backend, best, scoring), instruction=best.instruction)
                    log.info("%s", json.dumps(row))
                    rows.append(row)
    return rows


def row_name(framework: str, args: argparse.Namespace) -> str:
    """A row's framework name: ``gepa``, or promptlift's (``--label``; ``promptlift+cal`` when calibrated)."""
    if framework == "gepa":
        return framework
    return args.label or ("promptlift+cal" if args.calibrate else "promptlift")


def settings_line(args: Any) -> str:
    return (f"Splits train/val/test = {args.train}/{args.val}/{args.test}; budget {args.budget} metric calls; "
            f"minibatch {args.minibatch}; merge {'off' if args.no_merge else 'on (max 5)'}; reflection model = task "
            f"model, temperature {args.temperature}, max {args.proposal_tokens} tokens; seeds {args.seeds}.")


def summarize(rows: Sequence[dict[str, Any]], args: argparse.Namespace) -> str:
    stat = micro.pm

    lines = [
        f"# promptlift GEPA vs the gepa package ({args.model})",
        "",
        ("Combined from the runs below." if getattr(args, "sources", None) else settings_line(args))
        + " Mean ± std over seeds. Wall time is the search only, on a shared CPU; a wall ratio is given"
        " only between rows of the same runs.",
        "",
        "| task | framework | test | val (best) | metric calls | proposer calls | wall s | baseline test |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in args.tasks.split(","):
        walls, sources = {}, {}
        for framework in sorted({r["framework"] for r in rows}, key=lambda f: (f != "gepa", f)):
            part = [r for r in rows if r["task"] == name and r["framework"] == framework]
            if not part:
                continue
            walls[framework] = statistics.mean(r["wall_seconds"] for r in part)
            sources[framework] = {r.get("source") for r in part}
            lines.append(
                f"| {name} | {framework} | {stat([r['test'] for r in part])} | {stat([r['val'] for r in part])} | "
                f"{stat([r['metric_calls'] for r in part], 0)} | {stat([r['proposer_calls'] for r in part], 0)} | "
                f"{stat([r['wall_seconds'] for r in part], 0)} | {part[0]['baseline_test']:.3f} |")
        for framework in [f for f in walls if f != "gepa" and sources[f] == sources.get("gepa")]:  # same runs only
            lines.append(f"| {name} | wall ratio gepa / {framework} | {walls['gepa'] / walls[framework]:.2f}x |"
                         " | | | | |")
    for path, part in getattr(args, "sources", None) or []:
        lines += ["", f"- `{Path(path).name}` ({part['tasks']}): {settings_line(argparse.Namespace(**part))}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    if args.combine:
        parts = [json.loads(Path(p).read_text()) for p in args.combine]
        rows = [{"source": Path(path).name, **row} for path, part in zip(args.combine, parts) for row in part["runs"]]
        settings = {k: v for k, v in parts[0]["args"].items() if k not in ("tasks", "out", "combine")}
        sources = [(path, part["args"]) for path, part in zip(args.combine, parts)]
        args = argparse.Namespace(**{**settings, "tasks": ",".join(dict.fromkeys(r["task"] for r in rows)),
                                     "out": args.out, "combine": args.combine, "sources": sources})
    else:
        rows = sweep(args)
    table = summarize(rows, args)
    micro.write(args.out, {"args": vars(args), "runs": rows}, table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
