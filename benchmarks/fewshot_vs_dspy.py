"""promptlift's few-shot strategies vs DSPy's optimizers, on one backend, at one metric-call budget.

    .venv/bin/python benchmarks/fewshot_vs_dspy.py                       # the full table
    .venv/bin/python benchmarks/fewshot_vs_dspy.py --scripted --sizes 40 12 12 --seeds 0   # smoke test

Every method runs on the same backend object (DSPy through ``promptlift.interop.dspy``) with
a fresh response cache per run, so no run is answered from another's work. Wall time is the
search alone (``optimize`` / ``compile``); the model load and the test evaluation are not in
it. Metric calls are counted where the metric runs (promptlift's ledger; a counting wrapper
around the DSPy metric), LM calls at the backend (task and proposer model together). DSPy's
parse failures on the test split are counted, and one rendered DSPy prompt with the model's
raw answer is saved as evidence of the format the model has to follow.

The DSPy side is the sweep's DSPy peer (``promptlift.bench.peers.dspy``); the same
comparison as a sweep: ``promptlift bench benchmarks/configs/fewshot_vs_dspy.yaml``.

Writes ``<out>.json`` (every run) and ``<out>.md`` (the table).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from promptlift import Budget, ResponseCache, get_task, load_backend  # noqa: E402
from promptlift.answers import score_outside  # noqa: E402
from promptlift.bench import micro  # noqa: E402
from promptlift.bench.peers import dspy as peer  # noqa: E402
from promptlift.cache import CachedBackend  # noqa: E402
from promptlift.optimizers.bootstrap import BootstrapFewShot  # noqa: E402
from promptlift.optimizers.fewshot import FewShot  # noqa: E402
from promptlift.optimizers.joint import JointSearch  # noqa: E402
from promptlift.optimizers.similarity import SimilarityFewShot  # noqa: E402
from promptlift.testing.doubles import dspy_double  # noqa: E402
from promptlift.types import one_line  # noqa: E402

log = logging.getLogger("fewshot_vs_dspy")

CAL = {"formats": ("chat", "plain"), "calibrate": "contextual"}  # the +cal variants: format searched, bias calibrated
PROMPTLIFT: dict[str, Callable[[argparse.Namespace], Any]] = {
    "promptlift/fewshot": lambda a: FewShot(k=4),
    "promptlift/bootstrap": lambda a: BootstrapFewShot(k=4, bootstrap_size=a.bootstrap_size),
    "promptlift/similarity": lambda a: SimilarityFewShot(ks=(2, 4, 8), embedder=a.embedder),
    "promptlift/mipro": lambda a: JointSearch(n_instructions=4, n_demo_sets=4, k=4, bootstrap_size=a.bootstrap_size,
                                              minibatch_size=a.minibatch, full_eval_every=5),
    "promptlift/fewshot+cal": lambda a: FewShot(k=4, **CAL),
    "promptlift/bootstrap+cal": lambda a: BootstrapFewShot(k=4, bootstrap_size=a.bootstrap_size, **CAL),
    # plain only: the grid would reach plain only after every chat point within this budget
    "promptlift/similarity+cal": lambda a: SimilarityFewShot(ks=(2, 4, 8), embedder=a.embedder, formats=("plain",),
                                                             calibrate="contextual"),
    "promptlift/mipro+cal": lambda a: JointSearch(n_instructions=4, n_demo_sets=4, k=4, bootstrap_size=a.bootstrap_size,
                                                  minibatch_size=a.minibatch, full_eval_every=5, **CAL),
}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    backend = dspy_double() if args.scripted else load_backend(args.model, **threads(args))
    rows, evidence = previous(args) if args.resume else ([], {})
    if any(m.startswith("promptlift/similarity") for m in args.methods):
        from promptlift.embeddings import get_embedder

        get_embedder(args.embedder)  # loaded once, outside the timings (like the model)
    done = {(r["task"], r["method"], r["seed"]) for r in rows if "error" not in r}
    for task_name in args.tasks:
        task = get_task(task_name, sizes=tuple(args.sizes))
        for seed in args.seeds:  # all methods of a seed run back to back: load drifts hit them alike
            for method in args.methods:
                if (task_name, method, seed) in done:
                    continue
                rows = [r for r in rows if (r["task"], r["method"], r["seed"]) != (task_name, method, seed)]
                try:
                    row = run_one(method, task, backend, seed, args, evidence)
                except Exception as exc:  # one method failing (e.g. DSPy on unparseable output) is a result too
                    log.exception("%s %s seed %d failed", task_name, method, seed)
                    row = {"task": task_name, "method": method, "seed": seed, "error": f"{type(exc).__name__}: {exc}"[:500]}
                rows.append(row)
                if "error" not in row:
                    log.info("%s %s seed %d: test %.3f, %d metric calls, %d LM calls, %.1fs", task_name, method, seed,
                             row["test"], row["metric_calls"], row["lm_calls"], row["seconds"])
                write(args, rows, evidence)
    write(args, rows, evidence)  # also when --resume found nothing left to run
    print(table(rows))
    return 0


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = micro.parser(__doc__)
    p.add_argument("--tasks", nargs="+", default=["sentiment", "trec"])
    p.add_argument("--model", default="llamacpp:smollm2")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--sizes", nargs=3, type=int, default=[100, 20, 60], metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--budget", type=int, default=100, help="metric calls per search (default: 100)")
    p.add_argument("--bootstrap-size", type=int, default=12)
    p.add_argument("--minibatch", type=int, default=5)
    p.add_argument("--max-tokens", type=int, default=48, help="generation limit of DSPy's task-model calls")
    p.add_argument("--embedder", default="minilm")
    p.add_argument("--methods", nargs="+", default=[*PROMPTLIFT, *peer.METHODS])
    p.add_argument("--out", default="benchmarks/results/fewshot_vs_dspy")
    p.add_argument("--threads", type=int, help="llama.cpp threads (default: the backend's)")
    p.add_argument("--resume", action="store_true", help="keep the runs already in <out>.json and do the rest")
    p.add_argument("--scripted", action="store_true", help="a scripted test double instead of the model (smoke test)")
    return p.parse_args(argv)


def threads(args: argparse.Namespace) -> dict[str, Any]:
    return {"n_threads": args.threads} if args.threads else {}


def previous(args: argparse.Namespace) -> tuple[list[dict], dict]:
    path = Path(args.out).with_suffix(".json")
    if not path.is_file():
        return [], {}
    data = json.loads(path.read_text())
    return data["runs"], data.get("dspy_prompts", {})  # failed runs are kept until they are redone


def run_one(method: str, task: Any, backend: Any, seed: int, args: argparse.Namespace, evidence: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cached = CachedBackend(backend, ResponseCache(Path(tmp) / "responses.sqlite"))
        if method.startswith("promptlift/"):
            row = run_promptlift(method, task, cached, seed, args)
        else:
            row = peer.run(method, task, cached, seed, dspy_settings(args), evidence)
            del row["search_usage"]  # a sweep cell's field: the script counts LM calls itself
        cached.cache.close()
    return {"task": task.name, "method": method, "seed": seed, **row}


# --- promptlift ----------------------------------------------------------------------------
def run_promptlift(method: str, task: Any, backend: CachedBackend, seed: int, args: argparse.Namespace) -> dict:
    optimizer = PROMPTLIFT[method](args)
    if isinstance(optimizer, SimilarityFewShot):
        forget_embeddings()
    started = time.perf_counter()
    result = optimizer.optimize(task, backend.inner, budget=Budget(metric_calls=args.budget), seed=seed,
                                cache=backend.cache, evaluate_test=False)
    seconds = time.perf_counter() - started
    best = result.best_candidate
    started = time.perf_counter()
    test = accuracy(task, best, backend.inner)
    return {"test": test, "val": result.best.mean, "metric_calls": result.metric_calls, "lm_calls": result.usage.calls,
            "seconds": seconds, "test_seconds": time.perf_counter() - started, "cache_hits": result.cache_hits, "n_demos": len(best.demos),
            "candidate": {k: v for k, v in best.to_dict().items() if k != "retrieval"}
            | ({"retrieval_k": best.retrieval.k} if best.retrieval else {})}


def accuracy(task: Any, candidate: Any, backend: Any) -> float:
    """Test accuracy of a promptlift candidate (outside any budget)."""
    values, _ = score_outside(task, candidate, backend, task.test)
    return sum(values) / len(values)


def dspy_settings(args: argparse.Namespace) -> peer.DSPySettings:
    return peer.DSPySettings(budget=args.budget, bootstrap_size=args.bootstrap_size, minibatch=args.minibatch,
                             max_tokens=args.max_tokens)


def forget_embeddings() -> None:
    """Drop embeddings kept from an earlier run, so every similarity run pays for its own."""
    from promptlift.embeddings import _loaded
    from promptlift.tasks import retrieval

    for embedder in _loaded.values():
        embedder._vectors.clear()  # type: ignore[attr-defined]
    retrieval._pool_matrix.cache_clear()


# --- output --------------------------------------------------------------------------------
def table(rows: list[dict]) -> str:
    lines = ["| task | method | test accuracy (mean ± std) | metric calls | LM calls | search wall time (s) "
             "| test eval (s) | DSPy parse failures (test) | DSPy's program, choice-scored by promptlift |",
             "|---|---|---|---|---|---|---|---|---|"]
    keys = list(dict.fromkeys((r["task"], r["method"]) for r in rows))
    for task, method in keys:
        group = [r for r in rows if r["task"] == task and r["method"] == method and "error" not in r]
        failed = [r for r in rows if r["task"] == task and r["method"] == method and "error" in r]
        if failed:
            error = one_line(failed[0]["error"], 120)
            lines.append(f"| {task} | {method} | failed in {len(failed)} run(s): {error} | | | | | | |")
        if not group:
            continue
        tests = [r["test"] for r in group]
        fails = [r.get("parse_failures") for r in group if r.get("parse_failures") is not None]
        scored = [r["test_in_promptlift_format"] for r in group if r.get("test_in_promptlift_format") is not None]
        lines.append(f"| {task} | {method} | {micro.pm(tests)} (n={len(tests)}) | "
                     f"{statistics.mean(r['metric_calls'] for r in group):.0f} | "
                     f"{statistics.mean(r['lm_calls'] for r in group):.0f} | "
                     f"{statistics.mean(r['seconds'] for r in group):.1f} | "
                     f"{_mean_of(group, 'test_seconds')} | "
                     f"{f'{statistics.mean(fails):.1f}' if fails else '-'} | "
                     f"{micro.pm(scored) if scored else '-'} |")
    return "\n".join(lines)


def _mean_of(group: list[dict], key: str) -> str:
    values = [r[key] for r in group if r.get(key) is not None]
    return f"{statistics.mean(values):.1f}" if values else "-"


def write(args: argparse.Namespace, rows: list[dict], evidence: dict) -> None:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    path = out.with_suffix(".json")
    invocation = {k: v for k, v in vars(args).items() if k != "out"}
    # every invocation that wrote this file, in order (a resumed sweep runs a subset of methods/seeds)
    before = json.loads(path.read_text()) if args.resume and path.is_file() else {}
    history = before.get("invocations") or ([before["settings"]] if "settings" in before else [])
    if not history or history[-1] != invocation:
        history.append(invocation)
    path.write_text(json.dumps({"invocations": history, "runs": rows, "dspy_prompts": evidence},
                               indent=1, ensure_ascii=False, default=str))
    out.with_suffix(".md").write_text(table(rows) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
