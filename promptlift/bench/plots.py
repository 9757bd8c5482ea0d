"""Sweep plots: test score per optimizer per task, and score against budget (matplotlib, off-screen)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptlift.plots import _pyplot


def _series(summary: Any) -> list[tuple[str, Any]]:
    """(name, rows) per model/proposer combination, in order of appearance."""
    combos = summary[["model", "proposer"]].drop_duplicates().itertuples(index=False)
    many = summary["model"].nunique() > 1 or summary["proposer"].nunique() > 1
    out = []
    for model, proposer in combos:
        rows = summary[(summary["model"] == model) & (summary["proposer"] == proposer)]
        name = f"{model} / {proposer}" if summary["proposer"].nunique() > 1 else str(model)
        out.append((name if many else "", rows))
    return out


def test_scores(frame: Any, summary: Any, path: str | Path) -> None:
    """Per task: each optimizer's mean test score ± std at its largest budget; the baseline dashed."""
    plt = _pyplot()
    tasks = list(dict.fromkeys(summary["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(max(5.0, 1.1 * summary["optimizer"].nunique() + 2) * len(tasks), 4.2),
                             squeeze=False)
    for ax, task in zip(axes[0], tasks):
        part = summary[summary["task"] == task]
        optimizers = list(dict.fromkeys(part["optimizer"]))
        series = [(name, rows.sort_values("budget_order").groupby("optimizer", sort=False).tail(1).set_index("optimizer"))
                  for name, rows in _series(part)]
        present = {o: [k for k, (_, top) in enumerate(series) if o in top.index] for o in optimizers}
        width = 0.8 / max(len(p) for p in present.values())
        for i, optimizer in enumerate(optimizers):  # the bars of one optimizer side by side, centred on it
            for j, k in enumerate(present[optimizer]):
                name, top = series[k]
                row = top.loc[optimizer]
                ax.bar(i + (j - (len(present[optimizer]) - 1) / 2) * width, row["best_test_mean"], width,
                       yerr=row["best_test_std"], capsize=3, color=f"C{k}", alpha=0.85,
                       label=(name or None) if all(k not in present[o] for o in optimizers[:i]) else None)
        baseline = part["baseline_test_mean"].mean()
        if baseline == baseline:
            ax.axhline(baseline, color="k", ls="--", lw=1, label="baseline (seed)")
        ax.set_xticks(range(len(optimizers)), optimizers, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("test score (mean ± std over seeds)")
        ax.set_title(f"{task} (each optimizer's largest budget)", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def score_vs_budget(frame: Any, summary: Any, path: str | Path) -> None:
    """Per task: mean test score ± std against the metric-call budget, one line per optimizer."""
    plt = _pyplot()
    tasks = list(dict.fromkeys(summary["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(8 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        part = summary[summary["task"] == task]
        for name, rows in _series(part):
            for optimizer, line in rows.groupby("optimizer", sort=False):
                line = line.sort_values("budget_order")
                label = f"{optimizer} ({name})" if name else optimizer
                ax.errorbar(line["budget_x"], line["best_test_mean"], yerr=line["best_test_std"], marker="o", ms=4,
                            capsize=3, label=label)
        baseline = part["baseline_test_mean"].mean()
        if baseline == baseline:
            ax.axhline(baseline, color="k", ls="--", lw=1, label="baseline (seed)")
        ax.set_xlabel("budget (metric calls)" if part["budget_numeric"].all() else "budget")
        ax.set_ylabel("test score (mean ± std over seeds)")
        ax.set_title(task)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def ladder_curves(lines: Any, tasks: Any, family: Any, path: str | Path) -> None:
    """Learning curves: per task, each rung's mean test score ± std against the training-set size."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.5 * len(tasks), 4.5), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        sizes = sorted(n for t, n in lines if t == task)
        present = {r for n in sizes for r in lines[(task, n)]}
        rungs = [r for r in family if r in present]  # the ladder's order
        for k, rung in enumerate(rungs):
            points = [(n, lines[(task, n)][rung].means) for n in sizes if rung in lines[(task, n)]]
            xs = [n for n, _ in points]
            ax.errorbar(xs, [m.mean() for _, m in points], yerr=[m.std() for _, m in points], capsize=3,
                        marker="o", color=f"C{k % 10}", ls="--" if family.get(rung) == "training" else "-", label=rung)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.set_xlabel("training examples")
        ax.set_ylabel("test score (mean ± std over seeds)")
        ax.set_title(f"{task}: prompting (solid) vs training (dashed)", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def ladder_cost(lines: Any, tasks: Any, family: Any, path: str | Path) -> None:
    """Per task, at the largest training size: each rung's test score against its prompt tokens per query."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.5 * len(tasks), 4.5), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        largest = max(n for t, n in lines if t == task)
        for k, (rung, line) in enumerate(lines[(task, largest)].items()):
            if line.prompt_tokens is None:
                continue
            ax.scatter(line.prompt_tokens, line.means.mean(), color=f"C{k % 10}",
                       marker="s" if family.get(rung) == "training" else "o", s=40)
            ax.annotate(rung, (line.prompt_tokens, line.means.mean()), fontsize=7, xytext=(4, 3),
                        textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("prompt tokens per query (log)")
        ax.set_ylabel("test score (mean over seeds)")
        ax.set_title(f"{task} at n={largest}: score against cost per query", fontsize=10)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)
