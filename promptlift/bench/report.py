"""Sweep results: one row per cell as a DataFrame (CSV, Parquet), a summary over seeds,
plots and a markdown report. Everything is read from the storage, so any worker on any
machine can write the report (``promptlift bench CONFIG --report``).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
import time
from pathlib import Path
from typing import Any, Iterable

from promptlift.bench.claims import DONE, FAILED
from promptlift.bench.config import Cell
from promptlift.bench.runner import config_columns
from promptlift.bench.storage import redacted
from promptlift.bench.versions import mixed_versions
from promptlift.types import one_line

log = logging.getLogger(__name__)

GROUP = ["task", "model", "proposer", "optimizer", "budget"]
FIRST = ["cell", "task", "optimizer", "optimizer_name", "params", "model", "proposer", "budget", "budget_metric_calls",
         "seed", "peer", "baseline_val", "best_val", "baseline_test", "best_test", "lift", "metric_calls", "lm_calls",
         "prompt_tokens", "completion_tokens", "tokens", "dollars", "search_seconds", "cell_seconds"]
TASK_MODEL = "task model"  # the proposer column of a cell whose task model also proposes
SPREAD = ["best_val", "best_test", "lift"]  # mean ± std
MEAN = ["baseline_test", "metric_calls", "lm_calls", "tokens", "dollars", "search_seconds"]


def results_frame(cells: Iterable[dict[str, Any]]):  # -> pandas.DataFrame
    """One row per finished cell; nested values (params, peer facts) as JSON text."""
    import pandas as pd

    rows = [dict(c["result"]) for c in cells if c["status"] == DONE and c.get("result")]
    for row in rows:
        for key, value in list(row.items()):
            if isinstance(value, (dict, list)):
                row[key] = json.dumps(value, sort_keys=True, default=str)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=FIRST)
    frame["proposer"] = frame["proposer"].fillna(TASK_MODEL)
    ordered = [c for c in FIRST if c in frame.columns]
    return frame[ordered + [c for c in frame.columns if c not in ordered]]


def summary_frame(frame):  # -> pandas.DataFrame
    """Mean and std over seeds of each (task, model, proposer, optimizer, budget)."""
    import pandas as pd

    if frame.empty:
        return pd.DataFrame(columns=[*GROUP, "n"])
    numeric = frame.copy()
    for column in SPREAD + MEAN:
        numeric[column] = pd.to_numeric(numeric.get(column), errors="coerce")
    grouped = numeric.groupby(GROUP, sort=False, dropna=False)
    out = grouped.size().rename("n").to_frame()
    for column in SPREAD:
        out[f"{column}_mean"] = grouped[column].mean()
        out[f"{column}_std"] = grouped[column].std(ddof=1).fillna(0.0).where(grouped[column].count() > 0)
    for column in MEAN:
        out[f"{column}_mean"] = grouped[column].mean()
    out = out.reset_index()
    return _budget_axis(out, numeric)


def _budget_axis(out, frame):  # -> pandas.DataFrame
    """budget_x: the metric-call budget where every budget has one, else the budget's position."""
    import pandas as pd

    calls = pd.to_numeric(frame.groupby("budget", sort=False)["budget_metric_calls"].first(), errors="coerce")
    numeric = bool(calls.notna().all())
    order = {b: (calls[b] if numeric else i) for i, b in enumerate(calls.index)}
    out["budget_order"] = out["budget"].map(order)
    out["budget_x"] = out["budget_order"]
    out["budget_numeric"] = numeric
    return out


def write_report(cells: list[dict[str, Any]], out: str | Path, *, name: str, storage: str, description: str = "",
                 note: str = "") -> Path:
    """results.csv/.parquet, summary.csv, the plots and report.md into ``out``; returns the report path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = results_frame(cells)
    summary = summary_frame(frame)
    _atomic(out / "results.csv", lambda p: frame.to_csv(p, index=False))
    try:
        _atomic(out / "results.parquet", lambda p: _parquet_safe(frame).to_parquet(p, index=False))
    except ImportError as exc:  # pyarrow is optional: the CSV holds the same rows
        log.warning("results.parquet not written (%s); pip install pyarrow", exc)
    _atomic(out / "summary.csv", lambda p: summary.to_csv(p, index=False))
    plots = []
    if not frame.empty:
        from promptlift.bench import plots as bench_plots

        for filename, draw in (("test_scores.png", bench_plots.test_scores),
                               ("score_vs_budget.png", bench_plots.score_vs_budget)):
            try:
                _atomic(out / filename, lambda p, draw=draw: draw(frame, summary, p))
                plots.append(filename)
            except Exception as exc:  # a plot is a convenience: never lose the tables over it
                log.warning("could not draw %s: %s", filename, exc)
    text = markdown(cells, summary, plots, name=name, storage=storage, description=description, note=note)
    _atomic(out / "report.md", lambda p: Path(p).write_text(text, encoding="utf-8"))
    write_html(text, out, f"sweep {name}", "report.html")
    return out / "report.md"


def write_html(text: str, out: Path, title: str, filename: str) -> None:
    """An HTML page beside a markdown report: the same tables (sortable) and plots, inline, for a browser."""
    from promptlift.report_html import markdown_page

    try:
        page = markdown_page(text, out, title)
        _atomic(out / filename, lambda p: Path(p).write_text(page, encoding="utf-8"))
    except Exception as exc:  # the page is a convenience: report.md holds the same
        log.warning("report.html not written: %s", exc)


def _parquet_safe(frame):  # -> pandas.DataFrame
    """Columns mixing Python types (a peer's extra facts) as text: Parquet needs one type per column."""
    frame = frame.copy()
    for column in frame.select_dtypes(include="object", exclude="str").columns:  # text columns hold one type
        kinds = {type(v) for v in frame[column].dropna()}
        if len(kinds) > 1:
            frame[column] = frame[column].map(lambda v: v if v is None or v != v else str(v))
    return frame


def _atomic(path: Path, write: Any) -> None:
    """Write to a temporary name, then rename: two workers finishing together never tear a file."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    write(tmp)
    os.replace(tmp, path)


def markdown(cells: list[dict[str, Any]], summary, plots: list[str], *, name: str, storage: str, description: str,
             note: str) -> str:
    counts = {s: sum(c["status"] == s for c in cells) for s in ("done", "failed", "pending", "running")}
    lines = [f"# Sweep `{name}`", ""]
    if description:
        lines += [description.strip(), ""]
    lines += [
        f"- written: {time.strftime('%Y-%m-%d %H:%M %Z')} on {machine()}",
        f"- storage: `{redacted(storage)}`",
        f"- cells: {len(cells)} ({', '.join(f'{n} {s}' for s, n in counts.items() if n)})",
    ]
    if note:
        lines.append(f"- note: {note}")
    lines += environment_lines(cells)
    lines += ["", "## Overview: best test (mean ± std over seeds), search seconds", "",
              overview_table(summary, failures(cells)), "",
              "## Summary (mean ± std over seeds)", "", summary_table(summary), ""]
    lines += [f"![{p}]({p})" for p in plots]
    failed = [c for c in cells if c["status"] == FAILED]
    if failed:
        lines += ["", "## Failed cells", ""] + [f"- `{c['cell']}`: {one_line(c.get('error') or '?')}" for c in failed]
    lines += ["", "## How to read this", "", *READING]
    return "\n".join(lines) + "\n"


READING = [
    "- One cell is one run of one optimizer on one task, model, proposer, budget and seed; its row is in "
    "`results.csv` / `results.parquet`, its run directory under `cells/`.",
    "- baseline: the task's seed candidate on the same backend. Test scores are measured after the search, "
    "outside the budget. best val is the score the optimizer selected on (peers without one show -).",
    "- metric calls: examples scored during the search; LM calls and tokens: the search's calls to the task and "
    "proposer models together (PEFT trains on the model directly: no calls counted).",
    "- search s: wall time of the search alone, on whatever else the machine was running.",
]


def environment_lines(cells: list[dict[str, Any]]) -> list[str]:
    """The versions the finished cells ran under (flagged when they differ) and the cells per host."""
    from promptlift.bench.progress import host_progress

    rows = [c["result"] for c in cells if c["status"] == DONE and c.get("result")]
    recorded = [r["versions"] for r in rows if r.get("versions")]
    mixed = mixed_versions(rows)
    lines = []
    if mixed:
        lines.append("- **mixed versions**: " + "; ".join(
            f"{name} " + ", ".join(f"{v} ({n} cells)" for v, n in counts.items()) for name, counts in mixed.items()))
    if recorded:
        lines.append("- versions: " + ", ".join(f"{k} {v}" for k, v in recorded[0].items() if k not in mixed)
                     + (f" ({len(rows) - len(recorded)} cells recorded none)" if len(recorded) < len(rows) else ""))
    hosts = host_progress(cells)
    if len(hosts) > 1:
        lines.append("- hosts: " + ", ".join(f"{h['host']} ({h['done']} done" + (f", {h['reruns']} re-run" if h["reruns"]
                                             else "") + ")" for h in hosts))
    return lines


def summary_table(summary) -> str:
    header = ["task", "model", "proposer", "optimizer", "budget", "n", "baseline test", "best val", "best test", "lift",
              "metric calls", "LM calls", "tokens", "$", "search s"]
    rows = [header, ["---"] * len(header)]
    for _, r in summary.iterrows():
        rows.append([
            r["task"], r["model"], r["proposer"], r["optimizer"], r["budget"], str(r["n"]),
            _num(r["baseline_test_mean"], 3), _pm(r, "best_val"), _pm(r, "best_test"), _pm(r, "lift", signed=True),
            _num(r["metric_calls_mean"], 0), _num(r["lm_calls_mean"], 0), _num(r["tokens_mean"], 0),
            _num(r["dollars_mean"], 4), _num(r["search_seconds_mean"], 1),
        ])
    return _markdown(rows)


def failures(cells: Iterable[dict[str, Any]]) -> dict[tuple[str, ...], list[str]]:
    """The failed cells' error names (``AdapterParseError``) by (optimizer, model, proposer, task, budget)."""
    out: dict[tuple[str, ...], list[str]] = {}
    for c in cells:
        if c["status"] != FAILED or "cell" not in c.get("spec", {}):
            continue
        row = config_columns(Cell.from_dict(c["spec"]["cell"]))
        key = (row["optimizer"], row["model"], row["proposer"] or TASK_MODEL, row["task"], row["budget"])
        out.setdefault(key, []).append((c.get("error") or "?").split(":")[0].strip())
    return out


def overview_table(summary, failed: dict[tuple[str, ...], list[str]] | None = None) -> str:
    """One row per optimizer (and model or proposer where the sweep has several), one column per
    task and budget: best test as mean ± std and the mean search seconds (and how many seeds, if
    fewer than the most any cell has; how many failed, from :func:`failures`); the seed's row first.
    An optimizer whose every cell failed keeps its row, with the error's name."""
    if summary.empty:
        return ""
    failed = failed or {}
    ordered = summary.sort_values("budget_order", kind="stable")
    columns = list(dict.fromkeys((t, b) for t in dict.fromkeys(summary["task"])
                                 for b in ordered.loc[ordered["task"] == t, "budget"]))
    keys = list(dict.fromkeys([*zip(summary["optimizer"], summary["model"], summary["proposer"]),
                               *(k[:3] for k in failed)]))
    several = [len({k[i] for k in keys}) > 1 for i in (1, 2)]
    found = {(r["optimizer"], r["model"], r["proposer"], r["task"], r["budget"]): r for _, r in summary.iterrows()}
    seeds = int(summary["n"].max())
    baseline = {t: summary.loc[summary["task"] == t, "baseline_test_mean"].iloc[0] for t, _ in columns}
    rows = [["optimizer", *[f"{t} @ {b}" for t, b in columns]], ["---"] * (len(columns) + 1),
            ["baseline (seed)", *[_num(baseline[t], 3) for t, _ in columns]]]
    for key in keys:
        label = " ".join([key[0]] + [f"({part})" for part, many in zip(key[1:], several) if many])
        rows.append([label, *(_overview_cell(found.get((*key, *column)), failed.get((*key, *column), []), seeds)
                              for column in columns)])
    return _markdown(rows)


def _overview_cell(row: Any, errors: list[str], seeds: int) -> str:
    if row is None:
        return f"failed ({len(errors)} × {', '.join(dict.fromkeys(errors))})" if errors else ""
    fewer = "" if row["n"] == seeds else f", {row['n']} of {seeds} seeds"
    lost = f", {len(errors)} failed" if errors else ""
    return f"{_pm(row, 'best_test')} ({_num(row['search_seconds_mean'], 0)} s{fewer}{lost})"


def _markdown(rows: list[list[Any]]) -> str:
    """Table rows as markdown lines (a "|" inside a cell becomes "/")."""
    return "\n".join("| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows)


def _pm(row: Any, column: str, *, signed: bool = False) -> str:
    mean, std = row[f"{column}_mean"], row[f"{column}_std"]
    if mean != mean:  # NaN: no value
        return "-"
    return f"{mean:+.3f} ± {std:.3f}" if signed else f"{mean:.3f} ± {std:.3f}"


def _num(value: Any, digits: int) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:,.{digits}f}"


def machine() -> str:
    return (f"{socket.gethostname()} ({platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()})")
