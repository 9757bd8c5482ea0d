"""Benchmark: GeneticSearch next to FewShot and GEPA at the same metric-call budget, real model.

For each task, seed and optimizer, one search runs on the default model (the proposer is the
task model itself, the 135M SmolLM2) with the same budget of metric calls. The search runs
without the response cache, so its wall time is its own; the best candidate and the seed
are then scored on the test split through a shared cache (the seed's test score is computed
once per task). The split is fixed (the CLI's data seed 0); the seed varies the search.

    .venv/bin/python benchmarks/genetic.py                          # the full table
    .venv/bin/python benchmarks/genetic.py --tasks sentiment --seeds 0 --budget 80

Writes ``benchmarks/results/genetic.json`` (every run, appended as it finishes, so an
interrupted sweep continues where it stopped) and ``genetic.md`` (mean ± sample std over
seeds), plus one population plot per GeneticSearch run in ``runs/bench-genetic/``.
Timings are wall-clock on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from promptlift import Budget, FewShot, ResponseCache, Run, get_task, load_backend
from promptlift.bench import micro
from promptlift.errors import ConfigError
from promptlift.optimizers.genetic import GeneticSearch
from promptlift.optimizers.genetic_plots import plot_generations, population_history
from promptlift.optimizers.registry import optimizer_class
from promptlift.result import Result
from promptlift.tasks.base import Task

log = logging.getLogger("benchmarks.genetic")
RESULTS = Path(__file__).parent / "results"
RUNS = Path("runs/bench-genetic")


def machine(saved: dict[str, Any]) -> str:
    """The machine as this sweep saw it: cores and load average at each (re)start."""
    now = micro.machine()
    before = saved.get("meta", {}).get("machine")
    return f"{before}; resumed on {now}" if before else now


def optimizers(names: list[str]) -> dict[str, Any]:
    """The optimizers compared, by label; GEPA only if this checkout has it. ``-cal``: every
    candidate gets contextual calibration before it is scored; ``genetic-de``: DE mode."""
    made: dict[str, Any] = {}
    genetic = {"population_size": 6, "minibatch_size": 4, "rungs": 2, "eta": 2, "proposal_tokens": 48}
    for name in names:
        if name == "fewshot":
            made[name] = FewShot(k=4)
        elif name == "fewshot-cal":
            made[name] = FewShot(k=4, calibrate="contextual")
        elif name == "genetic":
            made[name] = GeneticSearch(mode="ga", **genetic)
        elif name == "genetic-cal":
            made[name] = GeneticSearch(mode="ga", calibrate="contextual", **genetic)
        elif name == "genetic-de":
            made[name] = GeneticSearch(mode="de", **genetic)
        elif name == "gepa":
            try:
                made[name] = optimizer_class("gepa")()
            except ConfigError as exc:
                log.warning("GEPA is not in this checkout (%s): left out", exc)
        else:
            raise ConfigError(f"unknown optimizer label {name!r}")
    return made


def one_run(task: Task, label: str, optimizer: Any, seed: int, budget: int, backend: Any,
            cache: ResponseCache | None) -> dict[str, Any]:
    """One search (no cache, so its time is its own) and the test scores of best and seed."""
    run_dir = RUNS / f"{task.name}-{label}-{seed}"
    result: Result = optimizer.optimize(task, backend, budget=Budget(metric_calls=budget), seed=seed,
                                        run_dir=run_dir, cache=None, evaluate_test=False)
    scorer = Run(task, backend, budget=Budget(lm_calls=10**9), seed=seed, cache=cache)
    started = time.perf_counter()
    best_test = scorer.measure(result.best_candidate, task.test)
    baseline_test = scorer.measure(task.seed, task.test)
    row = {
        "task": task.name, "optimizer": label, "seed": seed, "budget": budget,
        "baseline_val": result.baseline.mean, "best_val": result.best.mean,
        "baseline_test": baseline_test, "best_test": best_test, "lift": best_test - baseline_test,
        "search_seconds": round(result.wall_seconds, 1), "test_seconds": round(time.perf_counter() - started, 1),
        "metric_calls": result.metric_calls, "lm_calls": result.usage.calls, "tokens": result.usage.tokens,
        "trials": len(result.trials), "val_trials": sum(t.role == "val" for t in result.trials),
        "stopped_by": result.stopped_by, "best_instruction": result.best_candidate.instruction,
        "best_demos": len(result.best_candidate.demos), "config": dict(result.config),
    }
    if isinstance(optimizer, GeneticSearch):
        row["generations"] = population_history(result)
        plot_generations(result, run_dir / "generations.png")
    log.info("%s %s seed=%d: val %.3f -> %.3f, test %.3f -> %.3f, %.0f s", task.name, label, seed,
             row["baseline_val"], row["best_val"], baseline_test, best_test, row["search_seconds"])
    return row


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["task"], row["optimizer"]), []).append(row)
    table = []
    for (name, label), runs in groups.items():
        entry: dict[str, Any] = {"task": name, "optimizer": label, "seeds": len(runs)}
        for key in ("baseline_test", "best_val", "best_test", "lift", "search_seconds", "lm_calls", "val_trials"):
            values = [float(r[key]) for r in runs]
            entry[key] = micro.mean_std(values)
        table.append(entry)
    return table


def markdown(table: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"Model {meta['model']} (also the proposer); sizes train/val/test {meta['sizes']}; "
        f"budget {meta['budget']} metric calls; seeds {meta['seeds']}; mean ± sample std over seeds.",
        "",
        "| task | optimizer | seed test | best val | best test | lift | search s | LM calls | validated |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in table:
        cells = [f"{e[k][0]:.3f} ± {e[k][1]:.3f}" for k in ("baseline_test", "best_val", "best_test", "lift")]
        cells += [f"{e['search_seconds'][0]:.0f} ± {e['search_seconds'][1]:.0f}", f"{e['lm_calls'][0]:.0f}",
                  f"{e['val_trials'][0]:.1f}"]
        lines.append(f"| {e['task']} | {e['optimizer']} | " + " | ".join(cells) + " |")
    lines += ["", f"Machine: {meta['machine']}. Sweep wall time {meta['wall_seconds']:.0f} s."]
    if meta.get("left_out"):
        lines.append(f"Left out: {', '.join(meta['left_out'])}.")
    return "\n".join(lines) + "\n"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = micro.parser(__doc__)
    parser.add_argument("--model", default="llamacpp:smollm2")
    parser.add_argument("--tasks", default="sentiment,arithmetic")
    parser.add_argument("--optimizers", default="fewshot,genetic,gepa")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--sizes", default="60,20,60", help="train,val,test (default: 60,20,60)")
    parser.add_argument("--budget", type=int, default=200, help="metric calls per search (default: 200)")
    parser.add_argument("--no-cache", action="store_true", help="no shared cache for the test scoring either")
    parser.add_argument("--out", default=str(RESULTS / "genetic"), help="output path without suffix")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    args = parse(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else {}
    rows: list[dict[str, Any]] = saved.get("rows", [])
    done = {(r["task"], r["optimizer"], r["seed"]) for r in rows}
    sizes = tuple(int(x) for x in args.sizes.split(","))
    seeds = [int(s) for s in args.seeds.split(",")]
    wanted = args.optimizers.split(",")
    made = optimizers(wanted)
    backend = load_backend(args.model)
    cache = None if args.no_cache else ResponseCache.default()
    started = time.perf_counter() - saved.get("meta", {}).get("wall_seconds", 0.0)
    meta = {"model": backend.id, "sizes": list(sizes), "budget": args.budget, "seeds": seeds,
            "machine": machine(saved), "left_out": [n for n in wanted if n not in made]}
    for name in args.tasks.split(","):
        task = get_task(name, sizes=sizes)
        for seed in seeds:
            for label, optimizer in made.items():
                if (name, label, seed) in done:
                    continue
                rows.append(one_run(task, label, optimizer, seed, args.budget, backend, cache))
                meta["wall_seconds"] = time.perf_counter() - started
                micro.write(out, {"meta": meta, "rows": rows})
    meta["wall_seconds"] = time.perf_counter() - started
    table = summarise(rows)
    micro.write(out, {"meta": meta, "rows": rows, "table": table}, markdown(table, meta))
    print(markdown(table, meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
