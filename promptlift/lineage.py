"""The lineage tree of a run: every validated candidate, linked to the candidates it came from.

Works for any Result whose trials record ``parents`` (GEPA, genetic search, ...). Nodes are
validation trials placed at (metric calls when validated, validation score); an edge joins
each one to its parents; merges (two parents) are drawn dashed; the best candidate is starred.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from promptlift.result import Result, Trial


def lineage_edges(result: Result) -> list[tuple[int, int]]:
    """(parent trial, child trial) for every validation trial whose parents were validated."""
    val = {t.number for t in result.trials if t.role == "val"}
    return [(p, t.number) for t in result.trials if t.role == "val" for p in t.parents if p in val]


def depth(result: Result) -> dict[int, int]:
    """Generation of each validation trial: 0 for roots, else 1 + its deepest parent."""
    out: dict[int, int] = {}
    for trial in result.trials:
        if trial.role == "val":
            parents = [out[p] for p in trial.parents if p in out]
            out[trial.number] = 1 + max(parents) if parents else 0
    return out


def lineage(result: Result, path: str | Path | None = None, *, annotate: bool = True):
    """Draw the lineage tree (matplotlib figure); saved to ``path`` if given."""
    from promptlift.plots import _pyplot, finish

    plt = _pyplot()
    val: dict[int, Trial] = {t.number: t for t in result.trials if t.role == "val"}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for parent, child in lineage_edges(result):
        p, c = val[parent], val[child]
        style = "--" if len(c.parents) > 1 else "-"
        ax.plot([p.metric_calls, c.metric_calls], [p.mean, c.mean], style, color="0.6", lw=1, zorder=1)
    generations = depth(result)
    xs = [t.metric_calls for t in val.values()]
    ys = [t.mean for t in val.values()]
    points = ax.scatter(xs, ys, c=[generations[n] for n in val], cmap="viridis", s=36, zorder=2)
    ax.scatter([result.best.metric_calls], [result.best.mean], marker="*", s=220, color="C3", zorder=3,
               label=f"best (trial {result.best.number})")
    if annotate:
        for number, trial in val.items():
            ax.annotate(str(number), (trial.metric_calls, trial.mean), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    fig.colorbar(points, ax=ax, label="generation")
    return finish(fig, ax, path, xlabel="metric calls when validated", ylabel=f"val score ({result.task})",
                  title=f"{result.optimizer} lineage on {result.task} (dashed: merge)", legend="best")
