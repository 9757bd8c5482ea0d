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

Writes ``<out>.json`` (every run) and ``<out>.md`` (the table).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from promptlift import Budget, ResponseCache, get_task, load_backend  # noqa: E402
from promptlift.types import one_line  # noqa: E402
from promptlift.cache import CachedBackend  # noqa: E402
from promptlift.optimizers.bootstrap import BootstrapFewShot  # noqa: E402
from promptlift.optimizers.fewshot import FewShot  # noqa: E402
from promptlift.optimizers.mipro import JointSearch  # noqa: E402
from promptlift.optimizers.similarity import SimilarityFewShot  # noqa: E402

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
DSPY = ("dspy/labeled", "dspy/bootstrap_rs", "dspy/mipro")
MAX_ERRORS = 10**6  # an unparseable answer scores 0 instead of aborting DSPy's search (DSPy's own knob)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    backend = scripted_backend() if args.scripted else load_backend(args.model, **threads(args))
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
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=["sentiment", "trec"])
    p.add_argument("--model", default="llamacpp:smollm2")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--sizes", nargs=3, type=int, default=[100, 20, 60], metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--budget", type=int, default=100, help="metric calls per search (default: 100)")
    p.add_argument("--bootstrap-size", type=int, default=12)
    p.add_argument("--minibatch", type=int, default=5)
    p.add_argument("--max-tokens", type=int, default=48, help="generation limit of DSPy's task-model calls")
    p.add_argument("--embedder", default="minilm")
    p.add_argument("--methods", nargs="+", default=[*PROMPTLIFT, *DSPY])
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
            row = run_dspy(method, task, cached, seed, args, evidence)
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
    requests = [task.render(candidate, e) for e in task.test]
    completions = backend.complete(requests)
    scores = [task.score(e, task.resolve(candidate, c)).value for e, c in zip(task.test, completions)]
    return sum(scores) / len(scores)


def forget_embeddings() -> None:
    """Drop embeddings kept from an earlier run, so every similarity run pays for its own."""
    from promptlift.embeddings import _loaded
    from promptlift.tasks import retrieval

    for embedder in _loaded.values():
        embedder._vectors.clear()  # type: ignore[attr-defined]
    retrieval._pool_matrix.cache_clear()


# --- DSPy ----------------------------------------------------------------------------------
def run_dspy(method: str, task: Any, backend: CachedBackend, seed: int, args: argparse.Namespace, evidence: dict) -> dict:
    import dspy

    from promptlift.interop import dspy as pl_dspy

    # generation stops at DSPy's end marker: saves time, changes nothing DSPy parses
    task_lm = pl_dspy.lm(backend, max_tokens=args.max_tokens, stop=["[[ ## completed ## ]]"])
    prompt_lm = pl_dspy.lm(backend, max_tokens=256)
    metric = pl_dspy.Metric(task)
    train, val = pl_dspy.examples(task, task.train), pl_dspy.examples(task, task.val)
    student = pl_dspy.to_dspy(task.seed, task)
    started = time.perf_counter()
    with dspy.context(lm=task_lm):
        program = compile_dspy(method, student, metric, train, val, prompt_lm, seed, args)
    seconds = time.perf_counter() - started
    lm_calls = backend_calls(task_lm, prompt_lm)
    started = time.perf_counter()
    test, failures, extra_calls = dspy_accuracy(task, program, task_lm, evidence, method)
    test_seconds = time.perf_counter() - started
    candidate = pl_dspy.from_dspy(program, task)
    # the same instruction and demos, rendered and choice-scored by promptlift: isolates DSPy's format
    as_promptlift = accuracy(task, candidate, backend.inner)
    return {"test": test, "val": None, "metric_calls": metric.calls, "lm_calls": lm_calls, "seconds": seconds,
            "test_seconds": test_seconds, "parse_failures": failures, "test_fallback_calls": extra_calls, "n_demos": len(candidate.demos),
            "test_in_promptlift_format": as_promptlift, "candidate": candidate.to_dict()}


def compile_dspy(method: str, student: Any, metric: Any, train: list, val: list, prompt_lm: Any, seed: int,
                 args: argparse.Namespace) -> Any:
    """DSPy's optimizer, sized so its metric calls stay near the budget (measured, not assumed).

    The bootstrapping optimizers get ``--bootstrap-size`` training examples, like promptlift's:
    on a model that gets most answers wrong DSPy's bootstrapping would otherwise scan the
    whole training split, spending several times the budget.
    """
    import dspy

    if method == "dspy/labeled":
        return dspy.LabeledFewShot(k=4).compile(student, trainset=_shuffled(train, seed))
    if method == "dspy/bootstrap_rs":
        # (candidates + 3) validation passes, plus bootstrapping passes of a few examples each
        n = max(0, (args.budget - 3 * len(val)) // (len(val) + 10))
        optimizer = dspy.BootstrapFewShotWithRandomSearch(
            metric=metric, max_bootstrapped_demos=4, max_labeled_demos=4, num_candidate_programs=n, num_threads=1,
            max_errors=MAX_ERRORS)
        return optimizer.compile(student, trainset=_shuffled(train, seed)[: args.bootstrap_size], valset=val)
    if method == "dspy/mipro":
        # the default program's full evaluation, bootstrapping, then trials with a full evaluation every 5
        trials = max(1, (args.budget - 2 * len(val) - args.bootstrap_size) // (args.minibatch + len(val) // 5))
        optimizer = dspy.MIPROv2(metric=metric, prompt_model=prompt_lm, auto=None, num_candidates=4,
                                 max_bootstrapped_demos=4, max_labeled_demos=4, num_threads=1, seed=seed, verbose=False,
                                 max_errors=MAX_ERRORS)
        return optimizer.compile(student, trainset=_shuffled(train, seed)[: args.bootstrap_size], valset=val,
                                 num_trials=trials, minibatch_size=args.minibatch,
                                 minibatch_full_eval_steps=5)
    raise SystemExit(f"unknown method {method!r}")


def dspy_accuracy(task: Any, program: Any, task_lm: Any, evidence: dict, method: str) -> tuple[float, int, int]:
    """Test accuracy of a DSPy program; a call DSPy cannot parse scores 0 and is counted."""
    import dspy

    from promptlift.interop import dspy as pl_dspy

    metric, failures = pl_dspy.Metric(task), 0
    before = task_lm.backend_engine.calls
    scores = []
    with dspy.context(lm=task_lm):
        for example in pl_dspy.examples(task, task.test):
            try:
                prediction = program(**example.inputs())
            except Exception as exc:  # AdapterParseError and the like: the model broke the format
                failures += 1
                prediction = None
                log.debug("DSPy could not parse an answer: %s", exc)
            scores.append(metric(example, prediction))
    if method not in evidence.get(task.name, {}) and task_lm.history:
        entry = task_lm.history[-1]
        evidence.setdefault(task.name, {})[method] = {"messages": entry.get("messages"), "outputs": entry.get("outputs")}
    extra = task_lm.backend_engine.calls - before - len(task.test)  # ChatAdapter -> JSONAdapter retries
    return sum(scores) / len(scores), failures, extra


def backend_calls(*lms: Any) -> int:
    return sum(lm.backend_engine.calls for lm in lms)


def _shuffled(items: list, seed: int) -> list:
    import random

    items = list(items)
    random.Random(seed).shuffle(items)
    return items


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
        std = statistics.stdev(tests) if len(tests) > 1 else 0.0
        fails = [r.get("parse_failures") for r in group if r.get("parse_failures") is not None]
        scored = [r["test_in_promptlift_format"] for r in group if r.get("test_in_promptlift_format") is not None]
        lines.append(f"| {task} | {method} | {statistics.mean(tests):.3f} ± {std:.3f} (n={len(tests)}) | "
                     f"{statistics.mean(r['metric_calls'] for r in group):.0f} | "
                     f"{statistics.mean(r['lm_calls'] for r in group):.0f} | "
                     f"{statistics.mean(r['seconds'] for r in group):.1f} | "
                     f"{_mean_of(group, 'test_seconds')} | "
                     f"{f'{statistics.mean(fails):.1f}' if fails else '-'} | "
                     f"{f'{statistics.mean(scored):.3f} ± {_std(scored):.3f}' if scored else '-'} |")
    return "\n".join(lines)


def _mean_of(group: list[dict], key: str) -> str:
    values = [r[key] for r in group if r.get(key) is not None]
    return f"{statistics.mean(values):.1f}" if values else "-"


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


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


def scripted_backend() -> Any:
    """A test double for the smoke test: labels by keywords; answers DSPy in its own format."""
    from promptlift import ScriptedBackend

    positive = ("good", "great", "best", "fun", "love", "beautiful", "funny", "charming")

    def script(request: Any) -> Any:
        text = request.prompt or request.messages[-1].content
        guess = "positive" if any(w in text.lower() for w in positive) else "negative"
        if request.choices:
            return [0.0 if c.strip() == guess else -1.0 for c in request.choices]
        system = str(request.messages[0].content)
        if "[[ ##" in system:  # DSPy's ChatAdapter: answer every output field it asks for
            fields = re.findall(r"^\d+\. `(\w+)`", system.split("Your output fields are:")[-1], re.M)
            options = re.findall(r"one of: ([^\n]+)", system)
            labels = [o.strip() for o in options[0].split(";")] if options else []
            label = guess if guess in labels or not labels else labels[0]
            return "".join(f"[[ ## {f} ## ]]\n{label if f in ('sentiment', 'answer_type') else 'Decide the label.'}\n\n"
                           for f in fields) + "[[ ## completed ## ]]"
        return "Decide the label."

    return ScriptedBackend(script, name="benchmark-double")


if __name__ == "__main__":
    raise SystemExit(main())
