"""Benchmark: how large a group of requests should llama.cpp choice scoring decode at once?

``ChoiceScorer`` decodes many requests' suffixes in one batch in a unified KV cache, where every
token attends over the whole group's KV span. This scores the same requests with groups that
fill the context (the old rule) and with groups whose span is kept to ``--group-tokens`` (the
default), alternating the two ``--repeats`` times in one run, and compares both with scoring
each request alone (speed and numerics: largest log-probability difference, changed picks).

Workloads (the built-in ``sentiment`` val split, chat format): the seed instruction with 0, 4 or
16 shared demos (what FewShot and GEPA score), and 8 demos drawn per example (what
SimilarityFewShot's per-input retrieval scores: no shared prefix).

    python benchmarks/llamacpp_grouping.py --examples 60 --out benchmarks/results/llamacpp_grouping.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from promptlift.backends.llamacpp_scoring import GROUP_TOKENS  # noqa: E402
from promptlift.backends.registry import load_backend  # noqa: E402
from promptlift.bench import micro  # noqa: E402
from promptlift.tasks.builtin import get_task  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import requests_for  # noqa: E402

FILL = None  # groups that fill the context


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = micro.parser(__doc__, whole=True)
    p.add_argument("--examples", type=int, default=60, help="val examples per workload")
    p.add_argument("--demos", type=int, nargs="+", default=[0, 4, 16], help="shared demo counts")
    p.add_argument("--per-input", type=int, default=8, help="demos drawn per example (0: skip that workload)")
    p.add_argument("--group-tokens", type=int, default=GROUP_TOKENS)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/llamacpp_grouping.json"))
    return p.parse_args(argv)


def workloads(task: Any, args: argparse.Namespace) -> dict[str, list]:
    out = {f"{k} shared demos": requests_for(task, k, args.examples) for k in args.demos}
    if args.per_input:
        rng = random.Random(0)
        out[f"{args.per_input} demos per input"] = [
            task.render(task.seed.with_(demos=tuple(rng.sample(task.train, args.per_input))), e)
            for e in task.val[: args.examples]]
    return out


def score(backend: Any, items: list, group_tokens: int | None) -> tuple[list[list[float]], float]:
    """(log-probs, seconds) from a cold scorer: no prefix kept from an earlier call."""
    scorer = backend._scorer
    scorer.group_tokens = group_tokens
    scorer._prefix = ()
    scorer._ctx.kv_cache_seq_rm(0, -1, -1)
    started = time.perf_counter()
    scores = scorer.score(items)
    return scores, time.perf_counter() - started


def compare(scores: list[list[float]], alone: list[list[float]]) -> dict[str, Any]:
    def pick(s: list[float]) -> int:
        return max(range(len(s)), key=s.__getitem__)

    return {"max_abs_logprob_diff_vs_alone": max(abs(a - b) for s, t in zip(scores, alone) for a, b in zip(s, t)),
            "changed_picks_vs_alone": sum(pick(s) != pick(t) for s, t in zip(scores, alone))}


def cell(backend: Any, requests: list, args: argparse.Namespace) -> dict[str, Any]:
    items = [backend._item(r) for r in requests]
    alone, alone_s = score(backend, items, 1)
    runs: dict[str, list[float]] = {"fill": [], "capped": []}
    kept: dict[str, list[list[float]]] = {}
    for _ in range(args.repeats):  # alternate, so drift on a shared machine hits both
        for name, tokens in (("fill", FILL), ("capped", args.group_tokens)):
            kept[name], seconds = score(backend, items, tokens)
            runs[name].append(seconds)
    row: dict[str, Any] = {"examples": len(items), "prompt_tokens_mean": statistics.mean(len(i.prompt) for i in items),
                           "alone_s": alone_s}
    for name in runs:
        row[f"{name}_s"] = statistics.median(runs[name])
        row[f"{name}_runs_s"] = runs[name]
        row.update({f"{name}_{k}": v for k, v in compare(kept[name], alone).items()})
    row["speedup_capped_vs_fill"] = row["fill_s"] / row["capped_s"]
    return row


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# llama.cpp choice scoring: group span {report['group_tokens']} tokens vs groups filling the context",
             "", f"{report['machine']}; {report['threads']} thread(s); median of {report['repeats']} alternating runs;"
             " a cold scorer each run.", "",
             "| workload | prompt tokens | fill s | capped s | speed-up | alone s | max Δ logprob fill / capped"
             " (vs alone) | changed picks fill / capped |", "|---|---|---|---|---|---|---|---|"]
    for name, r in report["cells"].items():
        lines.append(f"| {name} | {r['prompt_tokens_mean']:.0f} | {r['fill_s']:.1f} | {r['capped_s']:.1f} | "
                     f"{r['speedup_capped_vs_fill']:.2f}x | {r['alone_s']:.1f} | "
                     f"{r['fill_max_abs_logprob_diff_vs_alone']:.3f} / {r['capped_max_abs_logprob_diff_vs_alone']:.3f} | "
                     f"{r['fill_changed_picks_vs_alone']} / {r['capped_changed_picks_vs_alone']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    task = get_task("sentiment", sizes=(300, args.examples, 0))
    backend = load_backend("llamacpp:smollm2", n_threads=args.threads)
    report: dict[str, Any] = {"group_tokens": args.group_tokens, "threads": args.threads, "repeats": args.repeats,
                              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "cells": {}}
    for name, requests in workloads(task, args).items():
        report["cells"][name] = cell(backend, requests, args)
        print(json.dumps({"workload": name, **report["cells"][name]}), flush=True)
    micro.write(args.out, report, markdown(report), indent=2)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
