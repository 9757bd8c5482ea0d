"""The table of ``benchmarks/configs/gepa_parallel.yaml``: GEPA sequential vs parallel proposals.

Run the sweep first (one worker, so the arms share the machine's load), then this on its output:

    nice -n 15 promptlift bench benchmarks/configs/gepa_parallel.yaml --output runs/gepa-parallel --workers 1
    .venv/bin/python benchmarks/gepa_parallel_table.py runs/gepa-parallel --note "load 6-11 on 2 cores"

Per arm (mean ± sample std over seeds): best test, seed test, metric calls, proposer calls
(LM calls that were not metric calls: the task model is the proposer), generated tokens (choice
scoring generates none: these are the proposals'), search seconds, the proposal throughput
(generated tokens per search second, pooled over seeds); then each arm's wall-time ratio to the
sequential arm (``seq``) at equal metric-call budget: of the mean times, and the geometric mean of
the per-seed ratios (less swayed by one seed run under a heavier load). Writes
``benchmarks/results/gepa_parallel.md`` unless ``--output`` says where.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def stat(values: list[float], digits: int) -> str:
    mean = statistics.mean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {spread:.{digits}f}"


def table(rows: list[dict[str, str]], note: str) -> str:
    arms: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        arms.setdefault(row["optimizer"], []).append(row)
    seeds = sorted({int(r["seed"]) for r in rows})
    lines = [f"# GEPA: sequential vs parallel proposals ({rows[0]['model']}, {rows[0]['task']})", "",
             f"Budget {rows[0]['budget']} metric calls; seeds {', '.join(map(str, seeds))}; mean ± std over seeds. "
             f"Search seconds are wall time on a shared machine: {note}.", "",
             "| arm | params | test | seed test | metric calls | proposer calls | generated tokens | search s |"
             " generated tokens / search s | wall ratio seq / arm (of means; paired geometric mean) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    base = statistics.mean(float(r["search_seconds"]) for r in arms.get("seq", rows))
    seq = {r["seed"]: float(r["search_seconds"]) for r in arms.get("seq", rows)}
    for name, part in arms.items():
        col = {k: [float(r[k]) for r in part] for k in ("best_test", "baseline_test", "metric_calls", "lm_calls",
                                                         "completion_tokens", "search_seconds")}
        proposals = [lm - m for lm, m in zip(col["lm_calls"], col["metric_calls"])]
        ratio = base / statistics.mean(col["search_seconds"])
        rate = sum(col["completion_tokens"]) / sum(col["search_seconds"])
        paired = statistics.geometric_mean([seq[r["seed"]] / float(r["search_seconds"]) for r in part])
        lines.append(f"| {name} | `{part[0]['params']}` | {stat(col['best_test'], 3)} | "
                     f"{statistics.mean(col['baseline_test']):.3f} | {stat(col['metric_calls'], 0)} | "
                     f"{stat(proposals, 1)} | {stat(col['completion_tokens'], 0)} | "
                     f"{stat(col['search_seconds'], 0)} | {rate:.1f} | {ratio:.2f}x; {paired:.2f}x |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", type=Path, help="the sweep's output folder (holds results.csv)")
    parser.add_argument("--note", default="load not recorded", help="the machine's load during the sweep")
    parser.add_argument("--output", type=Path, default=RESULTS / "gepa_parallel.md")
    args = parser.parse_args()
    with open(args.sweep / "results.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    text = table(rows, args.note)
    args.output.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
