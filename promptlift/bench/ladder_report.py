"""The ladder's report: per task and training-set size, every rung's test score with honest
error bars, what it cost, and when training pays for itself.

Error bars. Each rung's test score is a mean over seeds; the 95% interval comes from a
bootstrap that resamples seeds and test examples together (2,000 replicates, percentile
interval). A difference between two rungs is bootstrapped *paired*: the same resampled
seeds and examples for both, so the interval reflects the examples they disagree on, not
the spread of the test set. A difference whose interval excludes 0 is marked ``*``.

Cost model (FLOPs, a standard approximation for dense transformers with N parameters):
inference costs 2·N per prompt token, so a query costs 2·N·(prompt tokens per query, all
samples of best-of-N counted); training costs 6·N per training token for every gradient
rung (soft prompts and LoRA backpropagate through the whole model too) and 2·N per token for
the probe's forward passes; the search's own model calls cost 2·N per token. Break-even: the
number of queries after which a trained rung's one-off cost is paid back by a shorter prompt
than the best prompting rung's ("never" when its prompt is not shorter).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from promptlift.bench.ladder import RUNG_NAMES, RUNGS, rung_of
from promptlift.bench.report import (
    _atomic,
    _markdown,
    _num,
    failures,
    machine,
    redacted,
    results_frame,
    write_html,
)
from promptlift.types import one_line

log = logging.getLogger(__name__)

REPLICATES = 2000
FAMILY = {r.name: r.family for r in RUNGS}
TRAIN_FLOPS = {r.name: r.flops_per_train_token for r in RUNGS}


@dataclass
class Line:
    """One rung at one training size: per-seed test scores (examples x seeds) and costs."""

    rung: str
    scores: Any  # numpy [seeds, examples]
    prompt_tokens: float | None = None
    train_seconds: float | None = None
    train_tokens: float | None = None
    search_tokens: float | None = None
    trainable: float | None = None
    search_seconds: float | None = None
    seeds: tuple[int, ...] | None = None  # the seed of each row; None: one seed-independent row

    @property
    def means(self) -> Any:
        return self.scores.mean(axis=1)


def aligned(a: Line, b: Line) -> tuple[Any, Any]:
    """The two lines' score rows on the seeds both have, in the same order, so a paired difference
    compares like with like while a ladder is partial (a seed-independent line pairs with every row)."""
    import numpy as np

    if a.seeds is None or b.seeds is None:
        rows = max(a.scores.shape[0], b.scores.shape[0])
        return np.resize(a.scores, (rows, a.scores.shape[1])), np.resize(b.scores, (rows, b.scores.shape[1]))
    common = [s for s in a.seeds if s in b.seeds]
    return a.scores[[a.seeds.index(s) for s in common]], b.scores[[b.seeds.index(s) for s in common]]


def paired_difference(a: Line, b: Line) -> tuple[float, float, float] | None:
    """mean(a) - mean(b) and its paired 95% interval, over the seeds both have (None if they share none)."""
    left, right = aligned(a, b)
    if not len(left):
        return None
    low, high = bootstrap(left, right)
    return float(left.mean() - right.mean()), low, high


def lines_by_size(frame: Any) -> dict[tuple[str, int], dict[str, Line]]:
    """(task, size) -> rung -> Line, from the sweep's results (zero_shot from the cells' baselines)."""
    import numpy as np

    out: dict[tuple[str, int], dict[str, Line]] = {}
    for (label, rung_label), group in frame.groupby(["task", "optimizer"], sort=False):
        task, _, size = str(label).rpartition("@")
        key = (task, int(size))
        scores = np.array([json.loads(v) for v in group["best_test_scores"]], dtype=float)
        out.setdefault(key, {})[rung_of(rung_label)] = Line(
            rung_of(rung_label), scores, _mean(group, "best_prompt_tokens"), _mean(group, "train_seconds"),
            _mean(group, "train_tokens"), _mean(group, "tokens"), _mean(group, "trainable_parameters"),
            _mean(group, "search_seconds"), tuple(int(v) for v in group["seed"]))
        if "zero_shot" not in out[key]:
            baseline = np.array([json.loads(group["baseline_test_scores"].iloc[0])], dtype=float)
            out[key]["zero_shot"] = Line("zero_shot", baseline, _mean(group, "baseline_prompt_tokens"), search_tokens=0.0)
    return out


def _mean(group: Any, column: str) -> float | None:
    import pandas as pd

    if column not in group:
        return None
    values = pd.to_numeric(group[column], errors="coerce").dropna()
    return float(values.mean()) if len(values) else None


def bootstrap(a: Any, b: Any | None = None, *, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of mean(a) (or of mean(a) - mean(b), paired), resampling seeds and examples."""
    import numpy as np

    rng = np.random.default_rng(seed)
    seeds, examples = a.shape
    stats = np.empty(REPLICATES)
    for i in range(REPLICATES):
        rows = rng.integers(0, seeds, seeds)
        cols = rng.integers(0, examples, examples)
        value = a[np.ix_(rows, cols)].mean()
        if b is not None:
            value -= b[np.ix_(rows % b.shape[0], cols)].mean()
        stats[i] = value
    low, high = np.percentile(stats, [2.5, 97.5])
    return float(low), float(high)


def best_prompt(lines: dict[str, Line]) -> Line:
    """The prompting rung (zero-shot included) with the highest mean test score."""
    return max((line for line in lines.values() if FAMILY.get(line.rung) == "prompting"), key=lambda line: line.means.mean())


def flops(line: Line, n_params: float | None) -> tuple[float | None, float | None]:
    """(one-off FLOPs: search calls and training, FLOPs per query) under the module's cost model."""
    if not n_params or line.prompt_tokens is None:
        return None, None
    trained = line.train_tokens or 0.0
    search = max(0.0, (line.search_tokens or 0.0) - trained)  # training tokens are charged as LM tokens too
    one_off = 2 * n_params * search + TRAIN_FLOPS.get(line.rung, 0) * n_params * trained
    return one_off, 2 * n_params * line.prompt_tokens


def break_even(line: Line, prompt: Line, n_params: float | None) -> str:
    """Queries after which ``line`` costs less in total than ``prompt`` (a FLOPs comparison)."""
    (one_off, per_query), (p_one_off, p_per_query) = flops(line, n_params), flops(prompt, n_params)
    if None in (one_off, per_query, p_one_off, p_per_query) or FAMILY.get(line.rung) != "training":
        return "-"
    if per_query >= p_per_query:  # type: ignore[operator]
        return "never" if one_off > p_one_off else "0"  # type: ignore[operator]
    return f"{max(0, math.ceil((one_off - p_one_off) / (p_per_query - per_query))):,}"  # type: ignore[operator]


def task_table(task: str, by_size: dict[int, dict[str, Line]], n_params: float | None,
               failed: dict[tuple[str, int], list[str]]) -> str:
    sizes = sorted(by_size)
    header = ["rung", *[f"n={n}: test [95% CI]" for n in sizes], f"Δ vs best prompt @ n={sizes[-1]}",
              "train s", "trainable params", "prompt tok/query", f"break-even queries @ n={sizes[-1]}"]
    rows = [header, ["---"] * len(header)]
    largest = by_size[sizes[-1]]
    prompt = best_prompt(largest)
    for rung in RUNG_NAMES:
        cells = [_score_cell(by_size[n].get(rung), failed.get((rung, n), [])) for n in sizes]
        if all(c == "" for c in cells):
            continue
        line = largest.get(rung)
        rows.append([f"{rung} ({FAMILY.get(rung)})", *cells, _delta(line, prompt),
                     _num(line.train_seconds, 1) if line else "", _num(line.trainable, 0) if line else "",
                     _num(line.prompt_tokens, 1) if line else "", break_even(line, prompt, n_params) if line else ""])
    return _markdown(rows)


def _score_cell(line: Line | None, errors: list[str]) -> str:
    if line is None:
        return f"failed ({len(errors)} × {', '.join(dict.fromkeys(errors))})" if errors else ""
    low, high = bootstrap(line.scores)
    seeds = line.scores.shape[0]
    spread = f" ± {line.means.std(ddof=1):.3f}" if seeds > 1 else ""
    return f"{line.means.mean():.3f}{spread} [{low:.3f}, {high:.3f}]"


def _delta(line: Line | None, prompt: Line) -> str:
    if line is None or line is prompt:
        return "-" if line is prompt else ""
    paired = paired_difference(line, prompt)
    if paired is None:
        return "no common seed"
    diff, low, high = paired
    star = "*" if low > 0 or high < 0 else ""
    return f"{diff:+.3f} [{low:+.3f}, {high:+.3f}]{star}"


def twins(task: str, by_size: dict[int, dict[str, Line]]) -> list[str]:
    """Each training rung against its prompting twin (rft against bootstrap), paired, per size."""
    out = []
    for r in RUNGS:
        if r.family != "training" or r.twin is None:
            continue
        for n in sorted(by_size):
            line, twin = by_size[n].get(r.name), by_size[n].get(r.twin)
            if line is not None and twin is not None:
                out.append(f"- {task} n={n}: {r.name} {line.means.mean():.3f} vs {r.twin} {twin.means.mean():.3f}: "
                           f"{_delta(line, twin)}")
    return out


def answer(task: str, by_size: dict[int, dict[str, Line]]) -> str:
    """The smallest training size at which a training rung beats the best prompt, and by how much."""
    for n in sorted(by_size):
        lines = by_size[n]
        prompt = best_prompt(lines)
        beating = []
        for line in lines.values():
            if FAMILY.get(line.rung) != "training":
                continue
            paired = paired_difference(line, prompt)
            if paired is not None and paired[1] > 0:
                beating.append((paired[0], line.rung, paired[1], paired[2]))
        if beating:
            diff, rung, low, high = max(beating)
            return (f"**{task}**: from n={n} training examples, {rung} beats the best prompt ({prompt.rung}, "
                    f"{prompt.means.mean():.3f}) by {diff * 100:+.1f} points (95% CI {low * 100:+.1f} to {high * 100:+.1f}).")
    sizes = ", ".join(map(str, sorted(by_size)))
    return f"**{task}**: at n = {sizes} no training rung beats the best prompt by a margin the 95% interval can tell."


def write_ladder_report(cells: list[dict[str, Any]], out: str | Path, *, name: str, storage: str,
                        description: str = "", note: str = "") -> Path:
    """``ladder.md`` (+ ``ladder.csv`` and the plots) into ``out``; returns the report path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = results_frame(cells)
    failed = _ladder_failures(cells)
    lines = lines_by_size(frame) if not frame.empty else {}
    tasks = list(dict.fromkeys(task for task, _ in lines))
    n_params = _mean(frame, "model_parameters") if not frame.empty else None
    _atomic(out / "ladder.csv", lambda p: _summary(lines).to_csv(p, index=False))
    plots = _plots(lines, tasks, out)
    counts = {s: sum(c["status"] == s for c in cells) for s in ("done", "failed", "pending", "running")}
    text = [f"# Ladder `{name}`", "", description, "",
            f"- written: {time.strftime('%Y-%m-%d %H:%M %Z')} on {machine()}", f"- storage: `{redacted(storage)}`",
            f"- cells: {len(cells)} ({', '.join(f'{n} {s}' for s, n in counts.items() if n)})"]
    text += [f"- note: {note}"] if note else []
    text += ["", "## The answer", ""] + [answer(t, _sizes(lines, t)) for t in tasks]
    for task in tasks:
        text += ["", f"## {task}", "", task_table(task, _sizes(lines, task), n_params, failed.get(task, {}))]
    pairs = [line for task in tasks for line in twins(task, _sizes(lines, task))]
    if pairs:
        text += ["", "## Training against its prompting twin (paired difference, 95% interval)", "", *pairs]
    text += [""] + [f"![{p}]({p})" for p in plots]
    text += ["", "## How to read this", "", __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
             "", "Rungs:", *[f"- {r.name} ({r.family}): {r.about}" for r in RUNGS]]
    bad = [c for c in cells if c["status"] == "failed"]
    if bad:
        text += ["", "## Failed cells", ""] + [f"- `{c['cell']}`: {one_line(c.get('error') or '?')}" for c in bad]
    _atomic(out / "ladder.md", lambda p: Path(p).write_text("\n".join(text) + "\n", encoding="utf-8"))
    write_html("\n".join(text) + "\n", out, f"ladder {name}", "ladder.html")
    return out / "ladder.md"


def _sizes(lines: dict[tuple[str, int], dict[str, Line]], task: str) -> dict[int, dict[str, Line]]:
    return {n: by_rung for (t, n), by_rung in lines.items() if t == task}


def _ladder_failures(cells: list[dict[str, Any]]) -> dict[str, dict[tuple[str, int], list[str]]]:
    out: dict[str, dict[tuple[str, int], list[str]]] = {}
    for (label, _model, _proposer, task_label, _budget), errors in failures(cells).items():
        task, _, size = task_label.rpartition("@")
        out.setdefault(task, {})[(rung_of(label), int(size))] = errors
    return out


def _summary(lines: dict[tuple[str, int], dict[str, Line]]) -> Any:
    import pandas as pd

    rows = [{"task": task, "train_size": n, "rung": rung, "family": FAMILY.get(rung), "seeds": line.scores.shape[0],
             "test_mean": line.means.mean(), "test_std": line.means.std(ddof=1) if line.scores.shape[0] > 1 else 0.0,
             "prompt_tokens_per_query": line.prompt_tokens, "train_seconds": line.train_seconds,
             "trainable_parameters": line.trainable, "search_seconds": line.search_seconds}
            for (task, n), by_rung in lines.items() for rung, line in by_rung.items()]
    return pd.DataFrame(rows)


def _plots(lines: dict[tuple[str, int], dict[str, Line]], tasks: Sequence[str], out: Path) -> list[str]:
    if not tasks:
        return []
    from promptlift.bench.plots import ladder_cost, ladder_curves

    drawn = []
    for filename, draw in (("learning_curves.png", ladder_curves), ("score_vs_cost.png", ladder_cost)):
        try:
            _atomic(out / filename, lambda p, draw=draw: draw(lines, tasks, FAMILY, p))
            drawn.append(filename)
        except Exception as exc:  # a plot is a convenience: never lose the tables over it
            log.warning("could not draw %s: %s", filename, exc)
    return drawn
