"""Plots of results (matplotlib, imported lazily, rendered off-screen)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptlift import safefile

if TYPE_CHECKING:
    from promptlift.result import Result


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def finish(fig: Any, ax: Any, path: str | Path | None, *, xlabel: str, ylabel: str, title: str,
           legend: str = "lower right") -> Any:
    """Label, grid and legend ``ax``; save ``fig`` to ``path`` (then close it) when given. Returns ``fig``."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc=legend)
    fig.tight_layout()
    if path is not None:
        safefile.save_with(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
        _pyplot().close(fig)
    return fig


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
    return finish(fig, ax, path, xlabel="metric calls", ylabel=f"val score ({result.task})",
                  title=f"{result.optimizer} on {result.task}")
