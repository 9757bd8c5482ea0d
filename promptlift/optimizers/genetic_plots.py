"""The population of a GeneticSearch result, generation by generation, and its plot.

Nothing extra is stored: the population is replayed from the validation trials (their
``info.generation`` and, for DE, ``info.slot``) with the same survival rules the search
used (``operators.ga_survivors`` / ``operators.de_replace``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptlift.optimizers import operators as ops

if TYPE_CHECKING:
    from promptlift.result import Result


def population_history(result: Result) -> list[dict[str, Any]]:
    """One row per generation: best and mean validation score of the population after it,
    its size, its individuals (``members``: their validation trial numbers) and the children
    validated in it."""
    size = int(result.config.get("population_size", 6))
    mode = result.config.get("mode", "ga")
    seed = result.baseline
    population = [ops.Individual(seed.candidate, seed.number, seed.mean)]
    by_generation: dict[int, list] = {}
    for trial in result.trials:
        if trial.role == "val" and "generation" in trial.info:
            by_generation.setdefault(int(trial.info["generation"]), []).append(trial)
    rows = []
    for generation in sorted(by_generation):
        children = by_generation[generation]
        for trial in children:
            child = ops.Individual(trial.candidate, trial.number, trial.mean)
            if mode == "de":
                population = ops.de_replace(population, child, int(trial.info.get("slot", 0)))
            else:
                population.append(child)
        if mode != "de":
            population = ops.ga_survivors(population, size)
        fitness = [i.fitness for i in population]
        rows.append({
            "generation": generation,
            "best": max(fitness),
            "mean": sum(fitness) / len(fitness),
            "size": len(population),
            "members": [i.trial for i in population],  # the key benchmarks/results/genetic_*.json hold
            "validated": [t.number for t in children],
        })
    return rows


def plot_generations(result: Result, path: str | Path | None = None):
    """Best and mean validation score of the population per generation, over the children
    validated in each generation; saved to ``path`` if given. Returns the figure."""
    from promptlift.plots import _pyplot, finish

    plt = _pyplot()
    rows = population_history(result)
    fig, ax = plt.subplots(figsize=(6, 4))
    val = [t for t in result.trials if t.role == "val" and "generation" in t.info]
    ax.scatter([t.info["generation"] for t in val], [t.mean for t in val], s=14, alpha=0.4,
               color="C7", label="validated child")
    generations = [r["generation"] for r in rows]
    ax.plot(generations, [r["best"] for r in rows], marker="o", color="C3", label="population best")
    ax.plot(generations, [r["mean"] for r in rows], marker="s", color="C0", label="population mean")
    ax.axhline(result.baseline.mean, color="C2", linestyle="--", linewidth=1, label="seed")
    return finish(fig, ax, path, xlabel="generation", ylabel=f"val score ({result.task})",
                  title=f"{result.optimizer} ({result.config.get('mode', 'ga')}) on {result.task}")
