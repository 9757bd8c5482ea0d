"""Benchmark: calibrated choice scores and the prompt format, on the real model.

For each task (sentiment, trec), demo count (0 and 4), format (chat, plain) and seed, one
candidate is built: the task's seed instruction plus ``k`` label-balanced demos drawn from
train with that seed (FewShot's own draw). Its test completions are computed once; the
same choice log-probabilities are then resolved three ways: as scored, with contextual
calibration ("N/A", "", "[MASK]" under the full prompt) and with batch re-centring (32
unlabeled train inputs). The split is fixed (the CLI's seed 0); the seed varies the demos
and the batch sample, so a zero-shot "scored"/"contextual" cell has no variance.

    .venv/bin/python benchmarks/calibration.py                 # the full table (test 200)
    .venv/bin/python benchmarks/calibration.py --tasks sentiment --seeds 0 --test 50

Writes ``benchmarks/results/calibration.json`` (every cell, every seed, timings) and
``calibration.md`` (mean ± std over seeds). Timings are wall-clock on a shared machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from promptlift import Budget, FewShot, ResponseCache, Run, calibration, get_task, load_backend, verbalizers
from promptlift.bench import micro
from promptlift.tasks.base import Task
from promptlift.types import Candidate

log = logging.getLogger("benchmarks.calibration")
METHODS = ("scored", "contextual", "batch")
RESULTS = Path(__file__).parent / "results"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = micro.parser(__doc__)
    parser.add_argument("--model", default="llamacpp:smollm2")
    parser.add_argument("--tasks", default="sentiment,trec")
    parser.add_argument("--shots", default="0,4", help="demo counts (default: 0,4)")
    parser.add_argument("--formats", default="chat,plain")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--test", type=int, default=200, help="test examples (default: 200)")
    parser.add_argument("--verbalizers", action="store_true",
                        help="also score every verbalizer of verbalizers.candidates_for(task) (one row each)")
    parser.add_argument("--batch-n", type=int, default=calibration.BATCH_SIZE, help="inputs for batch re-centring")
    parser.add_argument("--merge", nargs="+", metavar="JSON", help="only merge earlier result files into one table")
    parser.add_argument("--no-cache", action="store_true", help="recompute every model call")
    parser.add_argument("--out", default=str(RESULTS / "calibration"), help="output path without suffix")
    return parser.parse_args(argv)


def build(task: Task, k: int, fmt: str, seed: int, backend: Any, cache: ResponseCache | None,
          words: tuple[str, ...] = ()) -> tuple[Run, Candidate]:
    run = Run(task, backend, budget=Budget(lm_calls=10**9), seed=seed, cache=cache)
    demos = FewShot(k=k).draw(run, task.train, task.choices) if k else []
    candidate = task.seed.with_(demos=tuple(demos), format=fmt)
    return run, verbalizers.apply(task, candidate, words) if words else candidate


def cell(task: Task, k: int, fmt: str, seed: int, backend: Any, cache: ResponseCache | None, batch_n: int,
         words: tuple[str, ...] = ()) -> dict[str, Any]:
    """Test accuracy of one candidate as scored and under both calibrations, plus timings."""
    run, candidate = build(task, k, fmt, seed, backend, cache, words)
    started = time.perf_counter()
    completions = run.complete([task.render(candidate, e) for e in task.test])
    test_seconds = time.perf_counter() - started
    out: dict[str, Any] = {"task": task.name, "k": k, "format": fmt, "verbalizer": "/".join(words or task.choices),
                           "seed": seed, "test_seconds": round(test_seconds, 2)}
    variants = {"scored": candidate}
    for method in ("contextual", "batch"):
        started = time.perf_counter()
        variants[method] = calibration.calibrate(run, candidate, method, **({"n": batch_n} if method == "batch" else {}))
        out[f"{method}_seconds"] = round(time.perf_counter() - started, 2)
        out[f"{method}_bias"] = list(variants[method].calibration)
    for method, variant in variants.items():
        scores = [task.score(e, task.resolve(variant, c)).value for e, c in zip(task.test, completions)]
        out[method] = sum(scores) / len(scores)
    log.info("%s k=%d %s %s seed=%d: %s", task.name, k, fmt, out["verbalizer"], seed, {m: round(out[m], 3) for m in METHODS})
    return out


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["task"], row["k"], row["format"], row.get("verbalizer", "")), []).append(row)
    table = []
    for (name, k, fmt, words), runs in groups.items():
        entry: dict[str, Any] = {"task": name, "k": k, "format": fmt, "verbalizer": words, "seeds": len(runs)}
        for method in METHODS:
            values = [r[method] for r in runs]
            entry[method] = micro.mean_std(values, population=True)
        entry["test_seconds"] = statistics.mean(r["test_seconds"] for r in runs)
        table.append(entry)
    return table


def markdown(table: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"Test accuracy (mean ± std over seeds {meta['seeds']}, {meta['test']} test examples), model {meta['model']}.",
        "",
        "| task | demos | format | verbalizer | as scored | contextual | batch | s / test set |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in table:
        cells = " | ".join(f"{e[m][0]:.3f} ± {e[m][1]:.3f}" for m in METHODS)
        words = e.get("verbalizer") or "-"
        lines.append(f"| {e['task']} | {e['k']} | {e['format']} | {words} | {cells} | {e['test_seconds']:.1f} |")
    lines += ["", f"Wall time {meta['wall_seconds']:.0f} s on {meta['machine']}."]
    return "\n".join(lines) + "\n"


def merged(paths: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows and meta of earlier result files (rows without a verbalizer used the task's labels)."""
    rows, metas, labels, seen = [], [], {}, set()
    for path in paths:
        data = json.loads(Path(path).read_text())
        metas.append(data["meta"])
        for row in data["rows"]:
            if "verbalizer" not in row:
                labels.setdefault(row["task"], "/".join(get_task(row["task"]).choices))
                row["verbalizer"] = labels[row["task"]]
            key = (row["task"], row["k"], row["format"], row["verbalizer"], row["seed"])
            if key not in seen:  # a cell scored in two files counts once
                seen.add(key)
                rows.append(row)
    meta = {**metas[0], "wall_seconds": sum(m["wall_seconds"] for m in metas), "merged": paths}
    return rows, meta


def write(rows: list[dict[str, Any]], meta: dict[str, Any], out: Path) -> None:
    table = summarise(rows)
    micro.write(out, {"meta": meta, "rows": rows, "table": table}, markdown(table, meta))
    print(markdown(table, meta))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    args = parse(argv)
    if args.merge:
        write(*merged(args.merge), Path(args.out))
        return 0
    backend = load_backend(args.model)
    cache = None if args.no_cache else ResponseCache.default()
    seeds = [int(s) for s in args.seeds.split(",")]
    started, rows = time.perf_counter(), []
    machine = micro.machine()
    for name in args.tasks.split(","):
        full = get_task(name)
        task = dataclasses.replace(full, test=full.test[: args.test])
        words_list = verbalizers.candidates_for(task) if args.verbalizers else (task.choices,)
        for k in (int(s) for s in args.shots.split(",")):
            for fmt in args.formats.split(","):
                for words in words_list:
                    rows.extend(cell(task, k, fmt, seed, backend, cache, args.batch_n, words) for seed in seeds)
    meta = {"model": backend.id, "seeds": seeds, "test": args.test, "batch_n": args.batch_n,
            "wall_seconds": time.perf_counter() - started, "machine": machine}
    write(rows, meta, Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
