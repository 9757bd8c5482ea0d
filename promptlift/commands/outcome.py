"""What ``promptlift optimize`` prints at the end: the summary table, baselines, per-class metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from promptlift.classification import score_rows
from promptlift.commands.common import table
from promptlift.result import Result


def summary(result: Result, run_dir: Path) -> dict[str, Any]:
    """The ``--json`` summary: scores, costs and times, baselines and per-class metrics."""
    return {
        "task": result.task, "model": result.backend, "optimizer": result.optimizer,
        "baseline_val": result.baseline.mean, "best_val": result.best.mean,
        "baseline_test": result.baseline_test, "best_test": result.best_test, "lift": result.lift,
        "metric_calls": result.metric_calls, "lm_calls": result.usage.calls, "tokens": result.usage.tokens,
        "cache_hits": result.cache_hits, "wall_seconds": round(result.wall_seconds, 2),
        "search_seconds": _rounded(result.search_seconds), "test_seconds": _rounded(result.test_seconds),
        "stopped_by": result.stopped_by, "warnings": list(result.warnings),
        "classification": result.classification, "run_dir": str(run_dir),
        "objectives": list(result.objectives), "max_prompt_tokens": result.max_prompt_tokens,
        "front": [{"trial": t.number, "val": t.mean, **t.per_query} for t in result.front],
    }


def report(result: Result, run_dir: Path) -> str:
    """The console report: baseline vs best (and the constant and random baselines), costs, warnings."""
    rows = score_rows(result)
    info = result.classification
    lift = f"{result.lift * 100:+.1f} points" if result.lift is not None else "-"
    usage = result.usage
    lines = [
        table(rows, ("candidate", "val", "test")) + f"     (metric: {info['metric'] if info else _metric(result)})",
        "",
        f"test lift: {lift}   trials: {len(result.trials)}   metric calls: {result.metric_calls}   "
        f"LM calls: {usage.calls} ({result.cache_hits} from cache)   tokens: {usage.tokens}   "
        f"wall time: {result.wall_seconds:.1f}s ({_seconds(result)})   "
        f"stopped by: {result.stopped_by or 'search finished'}",
    ]
    if len(result.objectives) > 1 or result.max_prompt_tokens is not None:
        lines += ["", front(result)]
    if info:
        lines += ["", per_class(info, "best")]
    lines += [f"warning: {w}" for w in result.warnings]
    lines += [
        f"best prompt: {result.best.candidate.describe()}",
        f"run directory: {run_dir}  (best prompt: {run_dir / 'best_candidate.json'}; report: {run_dir / 'report.html'})",
    ]
    return "\n".join(lines)


def front(result: Result) -> str:
    """The Pareto front over validation (score against each trial's costs per query), as a table."""
    cap = f", max prompt tokens {result.max_prompt_tokens}" if result.max_prompt_tokens is not None else ""
    turned = sum(not t.admissible for t in result.trials)
    rows = [(t.number, f"{t.mean:.4f}", _num(t.per_query.get("prompt_tokens"), 1),
             _num(t.per_query.get("completion_tokens"), 1), _num(t.per_query.get("seconds"), 4),
             _num(t.per_query.get("dollars"), 6), t.candidate.describe(60)) for t in result.front]
    head = (f"Pareto front of {','.join(result.objectives)} over val{cap} ({len(result.front)} trials; "
            f"{turned} inadmissible), per query:")
    return head + "\n" + table(rows, ("trial", "val", "prompt tok", "compl tok", "seconds", "dollars", "candidate"))


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def per_class(info: Mapping[str, Any], name: str) -> str:
    """Per-class precision/recall/F1 and the confusion row of candidate ``name``, as a table."""
    metrics = info["candidates"][name]
    labels = info["labels"]
    rows = [(label, m["precision"], m["recall"], m["f1"], m["support"], " ".join(str(n) for n in row))
            for (label, m), row in zip(metrics["per_class"].items(), metrics["confusion"])]
    head = (f"{name} on {info['split']}: accuracy {metrics['accuracy']:.4f}  macro F1 {metrics['macro_f1']:.4f}  "
            f"balanced accuracy {metrics['balanced_accuracy']:.4f}")
    return head + "\n" + table(rows, ("label", "precision", "recall", "f1", "support",
                                      "predicted as " + " ".join(label[:4] for label in labels)))


def _metric(result: Result) -> str:
    return str(result.config.get("metric", "")) or "task metric"


def _seconds(result: Result) -> str:
    if result.search_seconds is None:
        return "search"
    return f"search {result.search_seconds:.1f}s, test scoring {result.test_seconds or 0:.1f}s"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
