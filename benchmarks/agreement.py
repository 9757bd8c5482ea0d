"""Benchmark: do the torch and llama.cpp engines rank choices the same way?

Both run the same SmolLM2-135M weights (llama.cpp on the Q4_1 GGUF, torch on its float32
dequantization) through the same prompt contract. On ``--examples`` sentiment val examples
(the split is sized so val holds them all) each candidate is evaluated with
``Run.validate`` on each engine, each with a fresh response cache, and the script reports

- agreement: the share of examples where both engines pick the same choice;
- the choice log-probabilities' differences (mean and max absolute difference, and the
  correlation of the positive-minus-negative margin);
- each engine's accuracy and the wall time of the whole validation (one ``Run.validate``).

    .venv/bin/python benchmarks/agreement.py                 # 200 examples, two candidates
    .venv/bin/python benchmarks/agreement.py --examples 20 --candidates seed

Writes ``benchmarks/results/agreement.json`` and ``agreement.md``. Timings are wall-clock
on a machine possibly shared with other jobs (the load average is recorded).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from promptlift.bench import micro

RESULTS = Path(__file__).parent / "results"
CANDIDATES = ("seed", "plain4", "chat4")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = micro.parser(__doc__)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--candidates", nargs="+", default=["seed", "plain4"], choices=CANDIDATES)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def candidate_for(task: Any, name: str) -> Any:
    """``seed``: the task's seed (chat, no demos); ``plain4``/``chat4``: 4 label-alternating demos."""
    if name == "seed":
        return task.seed
    positive = [e for e in task.train if e.output == task.choices[0]]
    negative = [e for e in task.train if e.output != task.choices[0]]
    demos = tuple(e for pair in zip(positive, negative) for e in pair)[:4]
    return task.seed.with_(demos=demos, format="plain" if name.startswith("plain") else "chat")


def validate(task: Any, backend: Any, candidate: Any, cache_dir: Path) -> tuple[Any, float]:
    from promptlift.budget import Budget
    from promptlift.cache import ResponseCache
    from promptlift.run import Run

    cache = ResponseCache(cache_dir / f"{backend.id.split(':')[0]}-{candidate.key}.sqlite")
    run = Run(task, backend, budget=Budget(metric_calls=10**7), cache=cache)
    start = time.perf_counter()
    evaluation = run.validate(candidate)
    return evaluation, time.perf_counter() - start


def compare(first: Any, second: Any) -> dict[str, float]:
    """Agreement and log-probability differences of two evaluations of the same examples."""
    pairs = list(zip(first.completions, second.completions, strict=True))
    same = sum(a.text == b.text for a, b in pairs) / len(pairs)
    diffs = [abs(x - y) for a, b in pairs for x, y in zip(a.choice_logprobs, b.choice_logprobs, strict=True)]
    margins = [(a.choice_logprobs[0] - a.choice_logprobs[1], b.choice_logprobs[0] - b.choice_logprobs[1]) for a, b in pairs]
    return {
        "agreement": same,
        "mean_abs_logprob_diff": statistics.mean(diffs),
        "max_abs_logprob_diff": max(diffs),
        "margin_correlation": statistics.correlation([m[0] for m in margins], [m[1] for m in margins]),
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Engine agreement: torch vs llama.cpp ({report['examples']} sentiment val examples, SmolLM2-135M)", "",
        f"{report['threads']} threads; load average {report['load_start']} at start, {report['load_end']} at end "
        "(the machine was shared with other jobs).", "",
        "| candidate | agreement | mean abs logprob diff | max abs diff | margin corr | acc torch | acc llamacpp "
        "| val time torch (s) | val time llamacpp (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in report["candidates"].items():
        lines.append(
            f"| {name} | {100 * row['agreement']:.1f}% | {row['mean_abs_logprob_diff']:.4f} | "
            f"{row['max_abs_logprob_diff']:.4f} | {row['margin_correlation']:.4f} | {row['accuracy']['torch']:.3f} | "
            f"{row['accuracy']['llamacpp']:.3f} | {row['seconds']['torch']:.1f} | {row['seconds']['llamacpp']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    from promptlift.backends.llamacpp import LlamaCppBackend
    from promptlift.backends.torch import TorchBackend
    from promptlift.tasks.builtin import get_task

    task = get_task("sentiment", sizes=(300, args.examples, 200))
    engines = {
        "torch": TorchBackend.from_spec("smollm2", device="cpu", threads=args.threads),
        "llamacpp": LlamaCppBackend.from_spec("smollm2", n_threads=args.threads),
    }
    report: dict[str, Any] = {"examples": args.examples, "threads": args.threads, "load_start": micro.load(),
                              "ids": {k: v.id for k, v in engines.items()}, "candidates": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.candidates:
            candidate = candidate_for(task, name)
            evaluations, seconds = {}, {}
            for engine, backend in engines.items():
                evaluations[engine], seconds[engine] = validate(task, backend, candidate, Path(tmp))
            row = compare(evaluations["torch"], evaluations["llamacpp"])
            row["accuracy"] = {k: e.mean for k, e in evaluations.items()}
            row["seconds"] = seconds
            report["candidates"][name] = row
            print(json.dumps({name: row}), flush=True)
    report["load_end"] = micro.load()
    micro.write(args.out / "agreement", report, markdown(report), indent=2)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
