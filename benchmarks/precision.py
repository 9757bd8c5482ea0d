"""Benchmark: does the torch backend's bf16 default on CUDA change the answers?

Scores the built-in ``sentiment`` val examples (seed instruction plus 0 or 4 label-alternating
demos, chat format) with ``TorchBackend`` in float32 and in bfloat16 on one device, and reports
the accuracy of each, how often the two pick the same choice, the largest difference of a
choice's log-probability, and examples per second.

    python benchmarks/precision.py --device cuda --examples 1000 --out OUT/precision.json

(bf16 is only the default on CUDA; on a CPU it runs too, slowly.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from promptlift.backends.torch import TorchBackend  # noqa: E402
from promptlift.bench import micro  # noqa: E402
from promptlift.tasks.builtin import get_task  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import cold_scoring, requests_for  # noqa: E402


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = micro.parser(__doc__, whole=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--examples", type=int, default=1000)
    p.add_argument("--demos", type=int, nargs="+", default=[0, 4])
    p.add_argument("--chunk", type=int, default=1024, help="requests per complete() call")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/precision.json"))
    return p.parse_args(argv)


def scored(backend: TorchBackend, requests: list, chunk: int) -> tuple[list[list[float]], float]:
    completions, seconds = cold_scoring(backend, requests, chunk)
    return [list(c.choice_logprobs) for c in completions], seconds


def compare(task: Any, requests: list, full: list[list[float]], half: list[list[float]]) -> dict[str, Any]:
    def picks(scores: list[list[float]]) -> list[int]:
        return [max(range(len(s)), key=s.__getitem__) for s in scores]

    gold = [task.choices.index(e.output) for e in task.val[: len(requests)]]
    a, b = picks(full), picks(half)
    return {
        "examples": len(requests),
        "accuracy_float32": sum(x == g for x, g in zip(a, gold)) / len(gold),
        "accuracy_bfloat16": sum(x == g for x, g in zip(b, gold)) / len(gold),
        "same_choice": sum(x == y for x, y in zip(a, b)) / len(a),
        "max_abs_logprob_diff": max(abs(x - y) for s, t in zip(full, half) for x, y in zip(s, t)),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    task = get_task("sentiment", sizes=(300, args.examples, 200))
    backends = {dtype: TorchBackend.from_spec("smollm2", device=args.device, dtype=dtype)
                for dtype in ("float32", "bfloat16")}
    report: dict[str, Any] = {"device": args.device, "cells": {}}
    for demos in args.demos:
        requests = requests_for(task, demos, args.examples)
        scores, seconds = {}, {}
        for dtype, backend in backends.items():
            scored(backend, requests[: args.chunk], args.chunk)  # warm-up: kernels, allocator
            scores[dtype], seconds[dtype] = scored(backend, requests, args.chunk)
        cell = compare(task, requests, scores["float32"], scores["bfloat16"])
        cell.update({f"examples_per_s_{d}": len(requests) / s for d, s in seconds.items()})
        report["cells"][str(demos)] = cell
        print(json.dumps({"demos": demos, **cell}), flush=True)
    micro.write(args.out, report, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
