"""The plan before the run against the run: LM calls, tokens and seconds, per optimizer.

For each optimizer: ``promptlift optimize ... --dry-run --json`` (no model call), then the same
command for real; the plan the run printed as its first line is in ``plan.json`` of its run
directory. Actual search LM calls are the requests sent (``usage.calls - cache_hits``); tokens
are compared per call (the run's usage counts the cache's repeats too). Run with a fresh
``PROMPTLIFT_CACHE`` to see the first run time its first calls and the later ones use the
rates stored by the earlier ones.

    PROMPTLIFT_CACHE=/tmp/plan-cache python benchmarks/plan_vs_actual.py --out runs/plan \\
        --optimizers auto gepa -- --task sentiment --model torch:smollm2 --budget 200 --sizes 300,50,100
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


def cli(args: list[str]) -> str:
    done = subprocess.run([sys.executable, "-m", "promptlift.cli", "optimize", *args], capture_output=True, text=True,
                          env={**os.environ, "PROMPTLIFT_THREADS": os.environ.get("PROMPTLIFT_THREADS", "1")})
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return done.stdout


def row(name: str, dry: dict, run: dict, result: dict) -> list[str]:
    usage = result["usage"]
    fresh = usage["calls"] - result["cache_hits"]
    test = sum(len(t["example_ids"]) for t in result["test_trials"])
    per_call = sum(p["prompt_tokens"] for p in dry["parts"][:-1]) / max(1, dry["lm_calls"])

    def secs(value: float | None) -> str:
        return "unknown" if value is None else f"{value:.0f}"

    return [name, str(dry["lm_calls"]), str(fresh), f"{dry['lm_calls'] / fresh - 1:+.1%}",
            f"{dry['parts'][-1]['calls']}", str(test), f"{per_call:.0f}", f"{usage['prompt_tokens'] / usage['calls']:.0f}",
            secs(dry["seconds"]), secs(run["seconds"]), f"{result['search_seconds']:.0f}",
            secs(run["parts"][-1]["seconds"]), f"{result['test_seconds']:.0f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--optimizers", nargs="+", default=["auto", "gepa"])
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="-- then the optimize arguments")
    args = parser.parse_args()
    common = [a for a in args.rest if a != "--"] + ["--no-progress"]
    header = ["optimizer", "plan LM calls", "actual", "diff", "plan test calls", "actual", "plan tokens/call",
              "actual", "dry-run s", "run's plan s", "actual search s", "plan test s", "actual test s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in args.optimizers:
        run_dir = args.out / name
        dry = json.loads(cli([*common, "--optimizer", name, "--run-dir", str(run_dir), "--dry-run", "--json"]))
        cli([*common, "--optimizer", name, "--run-dir", str(run_dir), "--json"])
        run, result = (json.loads((run_dir / f).read_text()) for f in ("plan.json", "result.json"))
        lines.append("| " + " | ".join(row(name, dry, run, result)) + " |")
        print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
