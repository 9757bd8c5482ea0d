"""Plots of results (matplotlib, imported lazily, rendered off-screen)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from promptlift.result import Result


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def score_over_calls(result: Result, path: str | Path | None = None):
    """Each validation trial's score against cumulative metric calls, plus the best so far."""
    plt = _pyplot()
    val = [t for t in result.trials if t.split == "val"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter([t.metric_calls for t in val], [t.mean for t in val], s=16, alpha=0.6, label="val trial")
    best, xs, ys = float("-inf"), [], []
    for trial in val:
        best = max(best, trial.mean)
        xs.append(trial.metric_calls)
        ys.append(best)
    ax.step(xs, ys, where="post", color="C3", label="best so far")
    ax.set_xlabel("metric calls")
    ax.set_ylabel(f"val score ({result.task})")
    ax.set_title(f"{result.optimizer} on {result.task}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
