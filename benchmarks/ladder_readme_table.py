"""The README's ladder table from a ladder's ``ladder.csv``: each rung's mean test score per task
at each training size ("n=16 / n=64 / n=256"), the best rung of a task and size in bold.

    python benchmarks/ladder_readme_table.py benchmarks/results/ladder/ladder.csv --sizes 16,64,256
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

LABELS = {"zero_shot": "zero-shot seed prompt", "fewshot": "fewshot (demos, format, label words, calibration)",
          "prompt_search": "prompt_search (JointSearch)", "bootstrap": "bootstrap",
          "soft_prompt": "soft prompt (8 tokens)", "prefix": "prefix (8 tokens)", "linear_probe": "linear probe",
          "lora": "LoRA (rank 8)", "finetune": "full fine-tuning", "rft": "rft (2 rounds, LoRA)"}


def table(frame: pd.DataFrame, sizes: list[int]) -> str:
    tasks = list(dict.fromkeys(frame["task"]))
    means = frame.set_index(["task", "train_size", "rung"])["test_mean"]
    best = frame.groupby(["task", "train_size"])["test_mean"].max()
    lines = ["| rung | " + " | ".join(tasks) + " |", "| --- |" + " --- |" * len(tasks)]
    for rung in [r for r in LABELS if r in set(frame["rung"])]:
        cells = []
        for task in tasks:
            parts = []
            for n in sizes:
                value = means.get((task, n, rung))
                text = "–" if value is None else f"{value:.3f}"
                parts.append(f"**{text}**" if value is not None and abs(value - best[(task, n)]) < 1e-9 else text)
            cells.append(" / ".join(parts))
        lines.append(f"| {LABELS[rung]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="a ladder.csv written by `promptlift ladder --report`")
    parser.add_argument("--sizes", default="16,64,256", help="training sizes, comma-separated (default: %(default)s)")
    args = parser.parse_args()
    print(table(pd.read_csv(args.csv), [int(n) for n in args.sizes.split(",")]))


if __name__ == "__main__":
    main()
