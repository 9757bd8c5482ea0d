"""``report.html``: one self-contained page per run directory (and per sweep) that a person reads.

Self-contained means it opens from a file, offline, in any browser: images are inline PNGs
(base64 data URIs), the style and the small table-sorting script are inline, nothing is
fetched. A run's page holds the summary table with the baselines, the warnings, the best
prompt exactly as the model sees it, score over metric calls, per-class metrics and the
confusion matrices, the lineage tree (GEPA, genetic search), plan against actual cost and the
sortable trials table. ``page`` and ``table`` are shared with ``promptlift compare`` and the
sweep report.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from promptlift.checks import is_int
from promptlift.classification import score_rows
from promptlift.result import Result
from promptlift.tasks.base import Task
from promptlift.types import one_line

log = logging.getLogger(__name__)

REPORT = "report.html"
LINEAGE = ("gepa", "genetic")  # optimizers whose trials form a parent tree worth drawing

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f2f2f2}th.sort{cursor:pointer}td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f7f7f7;border:1px solid #ddd;padding:.8em;white-space:pre-wrap;max-height:30em;overflow:auto}
.warn{background:#fff3cd;border:1px solid #e0c36c;padding:.4em .8em;margin:.3em 0}
.side{display:flex;gap:1em;align-items:flex-start}.side>div{flex:1;min-width:0}img{max-width:100%}
"""

SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, column) {
    th.classList.add('sort');
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var up = th.dataset.order !== 'asc'; th.dataset.order = up ? 'asc' : 'desc';
      rows.sort(function (a, b) {
        var x = a.cells[column].textContent, y = b.cells[column].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return up ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def page(title: str, body: Iterable[str]) -> str:
    """A whole HTML document: inline style, the sorting script, ``body`` (HTML fragments)."""
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n" + "\n".join(body)
            + f"\n<script>{SORT_SCRIPT}</script>\n</body></html>\n")


def cell(value: Any) -> str:
    if value is None:
        return "<td>-</td>"
    if isinstance(value, float):
        return f'<td class="num">{value:.4f}</td>'
    if is_int(value):
        return f'<td class="num">{value}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def table(rows: Sequence[Sequence[Any]], header: Sequence[str], *, sortable: bool = False) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    kind = ' class="sortable"' if sortable else ""
    return f"<table{kind}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image(png: bytes, alt: str) -> str:
    """An inline PNG (a data URI: the page needs no file beside it)."""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def figure_png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def section(title: str, *parts: str) -> str:
    return f"<h2>{html.escape(title)}</h2>\n" + "\n".join(parts)


def warnings_html(warnings: Iterable[str]) -> str:
    return "\n".join(f'<div class="warn">warning: {html.escape(w)}</div>' for w in warnings)


# --- a run's page ---------------------------------------------------------------------------------
def write_run_report(result: Result, task: Task, run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html`` for ``result`` of ``task``."""
    path = Path(run_dir) / REPORT
    path.write_text(run_report(result, task, Path(run_dir)), encoding="utf-8")
    return path


def run_report(result: Result, task: Task, run_dir: Path | None = None) -> str:
    title = f"{result.task} · {result.optimizer} · {result.backend}"
    parts = [
        section("Summary", summary_table(result), f"<p>{html.escape(cost_line(result))}</p>",
                warnings_html(result.warnings)),
        section("Best prompt, as the model sees it", best_prompt(result, task)),
        section("Score over metric calls", image(figure_png(result.plot()), "validation score over metric calls")),
    ]
    if result.classification:
        parts.append(section("Per-class metrics and confusion matrices", class_tables(result.classification)))
    if result.optimizer in LINEAGE:
        parts.append(section("Lineage", lineage_image(result)))
    extra = sorted(p for p in (run_dir.glob("*.png") if run_dir else ()) if p.name != "score.png")
    if extra:
        parts.append(section("Optimizer plots", *(image(p.read_bytes(), p.name) for p in extra)))
    parts += [section("Plan against actual cost", plan_table(result)),
              section("Trials (click a column to sort)", trials_table(result))]
    return page(title, parts)


def summary_table(result: Result) -> str:
    rows = score_rows(result)
    info = result.classification
    lift = "-" if result.lift is None else f"{result.lift * 100:+.1f} points"
    metric = info["metric"] if info else str(result.config.get("metric", "the task's metric"))
    return table(rows, ("candidate", "val", "test")) + f"<p>test lift: {lift} · metric: {html.escape(metric)}</p>"


def cost_line(result: Result) -> str:
    timing = (f"search {result.search_seconds:.1f}s, test scoring {result.test_seconds or 0:.1f}s"
              if result.search_seconds is not None else f"{result.wall_seconds:.1f}s")
    return (f"{len(result.trials)} trials · {result.metric_calls} metric calls · {result.usage.calls} LM calls "
            f"({result.cache_hits} from cache) · {result.usage.tokens} tokens · {timing} · "
            f"stopped by: {result.stopped_by or 'search finished'}")


def best_prompt(result: Result, task: Task) -> str:
    from promptlift.runlog import exported_candidate

    exported = exported_candidate(result, task)
    words = ", ".join(result.best_candidate.verbalizer) or ", ".join(task.choices)
    extra = f"<p>{html.escape(result.best_candidate.describe(200))}</p>"
    if task.choices:
        extra += f"<p>scored choices (label words): {html.escape(words)}</p>"
    return extra + f"<pre>{html.escape(exported['prompt_text'])}</pre>"


def class_tables(info: Mapping[str, Any]) -> str:
    parts = []
    for name, metrics in info["candidates"].items():
        rows = [(label, m["precision"], m["recall"], m["f1"], m["support"]) for label, m in metrics["per_class"].items()]
        shown = {"baseline": "seed prompt"}.get(name, name)
        head = (f"<h3>{html.escape(shown)} on {html.escape(info['split'])}: accuracy {metrics['accuracy']:.4f}, "
                f"macro F1 {metrics['macro_f1']:.4f}, balanced accuracy {metrics['balanced_accuracy']:.4f}</h3>")
        parts.append(f"<div>{head}{table(rows, ('label', 'precision', 'recall', 'F1', 'support'))}"
                     f"{confusion_html(info['labels'], metrics['confusion'])}</div>")
    return '<div class="side">' + "".join(parts) + "</div>"


def confusion_html(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> str:
    """The confusion matrix (rows expected, columns predicted), each cell shaded by its row share."""
    head = "<th>expected \\ predicted</th>" + "".join(f"<th>{html.escape(label)}</th>" for label in labels)
    rows = []
    for label, row in zip(labels, matrix):
        total = max(1, sum(row))
        cells = "".join(f'<td class="num" style="background:rgba(40,110,200,{0.75 * n / total:.2f})">{n}</td>'
                        for n in row)
        rows.append(f"<tr><th>{html.escape(label)}</th>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def lineage_image(result: Result) -> str:
    from promptlift.lineage import lineage

    try:
        return image(figure_png(lineage(result)), "lineage of the candidates")
    except Exception as exc:  # a plot is a convenience: never lose a report over it
        log.warning("could not draw the lineage: %s", exc)
        return "<p>(no lineage drawn)</p>"


def plan_table(result: Result) -> str:
    budget = result.config.get("budget") or {}
    used = {"metric_calls": result.metric_calls, "lm_calls": result.usage.calls, "tokens": result.usage.tokens,
            "dollars": getattr(result.usage, "dollars", None), "seconds": result.search_seconds or result.wall_seconds}
    rows = [(name, budget.get(name), used.get(name)) for name in ("metric_calls", "lm_calls", "tokens", "dollars", "seconds")]
    rows = [r for r in rows if r[1] is not None or r[2]]
    return table(rows, ("limit", "planned (budget)", "actual")) + (
        "<p>Test scoring is outside the budget: "
        f"{result.test_seconds or 0:.1f}s after the search.</p>" if result.test_seconds is not None else "")


def trials_table(result: Result) -> str:
    rows = [(t.number, t.role, t.mean, len(t.scores), t.metric_calls, t.candidate.format, len(t.candidate.demos),
             "/".join(t.candidate.verbalizer) or "-", "yes" if t.candidate.calibration else "no",
             " ".join(str(p) for p in t.parents) or "-", round(t.seconds, 2), one_line(t.candidate.instruction, 120))
            for t in result.trials]
    return table(rows, ("trial", "role", "score", "n", "metric calls", "format", "demos", "label words",
                        "calibrated", "parents", "seconds", "instruction"), sortable=True)


# --- a sweep's page ---------------------------------------------------------------------------------
def markdown_page(text: str, folder: Path, title: str) -> str:
    """``text`` (markdown with tables) as a self-contained page; images named in it are read from
    ``folder`` and inlined. The sweep report (``report.md``) gets its ``report.html`` this way."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(text)

    def inline(match: re.Match[str]) -> str:
        path = Path(folder) / html.unescape(match.group(1))
        if not path.is_file() or path.suffix.lower() != ".png":
            return match.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}"'

    body = re.sub(r'src="([^":]+)"', inline, body)
    body = body.replace("<table>", '<table class="sortable">')
    return page(title, [body])
