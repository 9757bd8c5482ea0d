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
    val = [t for t in result.trials if t.role == "val"]
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


def score_over_prompt_tokens(result: Result, path: str | Path | None = None):
    """Each validation trial's score against its prompt tokens per query; the Pareto front joined
    and highlighted, inadmissible trials (over ``max_prompt_tokens``) hollow, the cap dashed."""
    plt = _pyplot()
    val = [t for t in result.trials if t.role == "val" and t.per_query.get("prompt_tokens") is not None]
    fig, ax = plt.subplots(figsize=(6, 4))
    for admissible, style in ((True, {"alpha": 0.6}), (False, {"facecolors": "none", "edgecolors": "C7"})):
        group = [t for t in val if t.admissible == admissible]
        if group:
            ax.scatter([t.per_query["prompt_tokens"] for t in group], [t.mean for t in group], s=16,
                       label="val trial" if admissible else "inadmissible", **style)
    front = [t for t in result.front if t.per_query.get("prompt_tokens") is not None]
    if front:
        ax.plot([t.per_query["prompt_tokens"] for t in front], [t.mean for t in front], "o-", color="C3",
                markersize=6, drawstyle="steps-post", label="Pareto front")
    if result.max_prompt_tokens is not None:
        ax.axvline(result.max_prompt_tokens, color="C7", linestyle="--", label="max prompt tokens")
    return finish(fig, ax, path, xlabel="prompt tokens per query", ylabel=f"val score ({result.task})",
                  title=f"{result.optimizer} on {result.task}: score vs prompt length", legend="best")
