"""``promptlift compare RUN_DIR...``: runs side by side, as a text table or one HTML page.

Each run directory's ``result.json`` gives one row (task, optimizer, model, budget, seed, the
seed's and the best's val/test scores, the classification baselines, cost and wall time);
the best prompts follow, side by side in the HTML page.
"""

from __future__ import annotations

import argparse
import html
from pathlib import Path
from typing import Any

from promptlift.commands.common import table
from promptlift.errors import ConfigError
from promptlift.result import Result

COLUMNS = ("run", "task", "optimizer", "model", "budget", "seed", "seed val", "best val", "seed test", "best test",
           "lift", "majority", "random", "metric calls", "LM calls", "tokens", "search s", "wall s")


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (each with a result.json)")
    parser.add_argument("--html", metavar="OUT", help="also write the comparison as one self-contained HTML page")


def load(run_dir: str) -> Result:
    path = Path(run_dir) / "result.json"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no result.json (is it a finished run directory of 'promptlift optimize'?)")
    try:
        return Result.from_json(path)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"{path}: not a readable result ({exc})") from None


def row(name: str, result: Result) -> tuple[Any, ...]:
    info = result.classification or {}
    base = info.get("baselines", {})
    budget = (result.config.get("budget") or {}).get("metric_calls")
    return (name, result.task, result.optimizer, result.backend, budget, result.seed, result.baseline.mean,
            result.best.mean, result.baseline_test, result.best_test, result.lift,
            base.get("majority", {}).get("score"), base.get("uniform", {}).get("score"), result.metric_calls,
            result.usage.calls, result.usage.tokens, _round(result.search_seconds), round(result.wall_seconds, 1))


def run(args: argparse.Namespace) -> int:
    results = [(d, load(d)) for d in args.run_dirs]
    rows = [row(Path(d).name, r) for d, r in results]
    print(table(rows, COLUMNS))
    print()
    for name, result in results:
        print(f"{Path(name).name}: {result.best_candidate.describe()}")
    if args.html:
        Path(args.html).write_text(comparison_page(results, rows), encoding="utf-8")
        print(f"\ncomparison: {args.html}")
    return 0


def comparison_page(results: list[tuple[str, Result]], rows: list[tuple[Any, ...]]) -> str:
    from promptlift import report_html

    prompts = "".join(
        f"<div><h3>{html.escape(Path(d).name)}</h3><p>{html.escape(r.best_candidate.describe(200))}</p>"
        f"<pre>{html.escape(_prompt_text(d, r))}</pre></div>" for d, r in results)
    body = [report_html.section("Runs (click a column to sort)", report_html.table(rows, COLUMNS, sortable=True)),
            report_html.section("Best prompts", f'<div class="side">{prompts}</div>')]
    return report_html.page(f"comparison of {len(results)} runs", body)


def _prompt_text(run_dir: str, result: Result) -> str:
    """The best prompt as the model sees it (best_candidate.json), or the bare instruction."""
    import json

    path = Path(run_dir) / "best_candidate.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))["prompt_text"]
    except (OSError, ValueError, KeyError):
        return result.best_candidate.instruction


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
