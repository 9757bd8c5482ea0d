"""Throughput of the API backends against the real llama.cpp server: concurrency 1 vs 8.

Starts ``python -m llama_cpp.server`` with the embedded SmolLM2 GGUF on 127.0.0.1, then
evaluates the sentiment task's seed candidate on ``--examples`` test examples through
``Run.evaluate`` (the path optimizers use: chunks of 32 requests, choice scoring from top
logprobs) with ``max_concurrency`` 1 and 8, uncached, and reports examples per second, the
accuracy, and whether both runs predicted the same labels. A cached replay of the same
evaluation (through the cache the last measured run filled) follows: it must make zero model
calls.

llama-cpp-python's server answers one request at a time (one model, one lock), so
concurrency can only overlap the client's and the HTTP layer's work with the model's; a
server that batches (vLLM, SGLang, hosted APIs) gains far more. Timings are wall-clock.

    .venv/bin/python benchmarks/api_throughput.py                     # 200 examples, openai, 1 vs 8
    .venv/bin/python benchmarks/api_throughput.py --engines openai litellm --repeats 2

Writes ``benchmarks/results/api_throughput.json``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from promptlift import Budget, ResponseCache, Run, get_task  # noqa: E402
from promptlift.backends.models import embedded_gguf  # noqa: E402
from promptlift.bench import micro  # noqa: E402
from tests.backends.conftest import make_backend  # noqa: E402
from tests.backends.servers import LlamaServer  # noqa: E402

log = logging.getLogger("benchmarks.api_throughput")
RESULTS = ROOT / "benchmarks" / "results"
UNLIMITED = Budget(metric_calls=10**9)


def evaluate(task, backend, cache: ResponseCache | None = None) -> tuple[float, Any]:
    run = Run(task, backend, budget=UNLIMITED, cache=cache)
    started = time.perf_counter()
    evaluation = run.evaluate(task.seed, task.test, role="test")
    return time.perf_counter() - started, evaluation


def measure(task, url: str, engine: str, concurrency: int, cache: ResponseCache) -> dict[str, Any]:
    """One uncached evaluation (``cache`` starts empty: every request is a miss that fills it)."""
    backend = make_backend(engine, url, max_concurrency=concurrency, deadline=600.0, prices=(0, 0))
    backend.complete([task.render(task.seed, task.train[0])])  # SDK imports and connection off the clock
    seconds, evaluation = evaluate(task, backend, cache)
    n = len(task.test)
    assert backend.stats["calls"] == n + 1, "the cache was not empty"
    return {
        "engine": engine, "concurrency": concurrency, "examples": n, "seconds": round(seconds, 2),
        "examples_per_second": round(n / seconds, 3), "accuracy": round(evaluation.mean, 4),
        "predictions": list(evaluation.trial.predictions), "tokens": evaluation.trial.usage.tokens,
        "retries": backend.stats["attempts"] - backend.stats["calls"],
    }


def cached_replay(task, url: str, engine: str, cache: ResponseCache) -> dict[str, Any]:
    """The same evaluation again through a cache that a measured run filled: zero model calls."""
    backend = make_backend(engine, url, max_concurrency=8, deadline=600.0, prices=(0, 0))
    seconds, evaluation = evaluate(task, backend, cache)
    return {"engine": engine, "replay_calls": backend.stats["calls"], "replay_seconds": round(seconds, 3),
            "replay_cache_hits": sum(c.cached for c in evaluation.completions),
            "replay_accuracy": round(evaluation.mean, 4)}


def main() -> int:
    parser = micro.parser(__doc__, whole=True)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--engines", nargs="+", default=["openai"], choices=["openai", "litellm"])
    parser.add_argument("--repeats", type=int, default=1, help="alternate the order on each repeat")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp server threads (1 is best on a loaded machine)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    task = get_task("sentiment", sizes=(1, 1, args.examples))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        server = LlamaServer(embedded_gguf(), threads=args.threads, log_path=Path(tmp) / "server.log").wait_ready()
        try:
            rows, replays = [], []
            for engine in args.engines:
                for repeat in range(args.repeats):
                    order = args.concurrency if repeat % 2 == 0 else list(reversed(args.concurrency))
                    for concurrency in order:
                        cache = ResponseCache(Path(tmp) / f"{engine}-{repeat}-{concurrency}.sqlite")
                        rows.append(measure(task, server.url, engine, concurrency, cache))
                        print(_row(rows[-1]), flush=True)
                replays.append(cached_replay(task, server.url, engine, cache))
                print(f"{engine}: cached replay made {replays[-1]['replay_calls']} model calls "
                      f"({replays[-1]['replay_seconds']} s)", flush=True)
        finally:
            server.stop()
    report = summarise(rows, replays, args, load_before)
    micro.write(RESULTS / "api_throughput", report, indent=2)
    for line in report["summary"]:
        print(line)
    return 0


def _row(row: dict[str, Any]) -> str:
    return (f"{row['engine']:<8} concurrency {row['concurrency']:>2}: {row['examples']} examples in "
            f"{row['seconds']:.1f} s = {row['examples_per_second']:.2f} examples/s, accuracy {row['accuracy']:.3f}")


def summarise(rows: list[dict], replays: list[dict], args: argparse.Namespace, load_before) -> dict[str, Any]:
    summary = []
    for engine in args.engines:
        rates = {c: [r["examples_per_second"] for r in rows if r["engine"] == engine and r["concurrency"] == c]
                 for c in args.concurrency}
        preds = [r["predictions"] for r in rows if r["engine"] == engine]
        same = sum(all(p[i] == preds[0][i] for p in preds) for i in range(len(preds[0])))
        parts = [f"c={c}: {statistics.mean(v):.2f}" + (f" ± {statistics.stdev(v):.2f}" if len(v) > 1 else "")
                 for c, v in rates.items()]
        low, high = min(args.concurrency), max(args.concurrency)
        ratio = statistics.mean(rates[high]) / statistics.mean(rates[low])
        summary.append(f"{engine}: examples/s {', '.join(parts)}; c={high} vs c={low}: x{ratio:.2f}; "
                       f"identical predictions {same}/{len(preds[0])}")
    for row in rows:
        row.pop("predictions")
    return {
        "rows": rows, "replays": replays, "summary": summary, "threads": args.threads,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average before {load_before[0]:.1f}, "
                   f"after {os.getloadavg()[0]:.1f} (shared with other jobs)",
    }


if __name__ == "__main__":
    sys.exit(main())
