"""``promptlift bench``: run a benchmark sweep (a grid or an Optuna search) from a YAML config.

Start as many workers as you like, on one machine or many, with the same config and storage:
each pulls cells from the shared study until none is left, then writes the report.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Any

from promptlift.commands.common import table
from promptlift.errors import ConfigError, PromptliftError

EXAMPLES = """examples:
  promptlift bench benchmarks/configs/smoke.yaml                       # one worker
  promptlift bench smoke.yaml & promptlift bench smoke.yaml            # two workers, one sweep
  promptlift bench smoke.yaml --workers 2                              # the same, started for you
  promptlift bench standard.yaml --storage postgresql://host/db --wait # a worker of a multi-machine sweep
  promptlift bench smoke.yaml --set seeds=[0] --set output=/tmp/smoke  # override config keys
  promptlift bench smoke.yaml --report                                 # just (re)write the report
"""


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.epilog = EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("config", help="the sweep's YAML file (see benchmarks/configs/)")
    parser.add_argument("--storage", help="SQLAlchemy URL of the shared study (default: sqlite:///OUTPUT/sweep.db)")
    parser.add_argument("--output", help="output folder: cell run directories, results, plots, report")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a top-level config key; the value is YAML (repeatable)")
    work = parser.add_argument_group("work")
    work.add_argument("--workers", type=int, default=1, help="start this many local worker processes (default: 1)")
    work.add_argument("--wait", action="store_true",
                      help="when nothing is left to claim, wait for other workers' cells (and rerun them if they die)")
    work.add_argument("--max-cells", type=int, help="stop after this many cells")
    work.add_argument("--retry-failed", action="store_true", help="make failed cells pending again first")
    work.add_argument("--report", action="store_true", help="run nothing: write the report from the storage")
    work.add_argument("--status", action="store_true", help="run nothing: print each host's progress and each cell's status")
    out = parser.add_argument_group("output")
    out.add_argument("--no-report", action="store_true", help="do not write the report when done")
    out.add_argument("--note", default="", help="a line for the report (e.g. the machine's load)")
    out.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from promptlift.errors import DatabaseUnavailable

    try:
        return _run(args)
    except DatabaseUnavailable as exc:  # not bad input (2): the database went away (3), try again later
        print(f"promptlift bench: error: {exc}", file=sys.stderr)
        return 3


def _run(args: argparse.Namespace) -> int:
    if args.no_progress:  # peers' own bars too (DSPy's tqdm): tqdm reads TQDM_DISABLE when first imported,
        os.environ["TQDM_DISABLE"] = "1"  # which is after this line (and in the workers, which inherit it)
    from promptlift.bench import Sweep, load_config, parse_overrides, write_sweep_report

    overrides = parse_overrides(args.set)
    overrides.update({k: v for k, v in (("storage", args.storage), ("output", args.output)) if v})
    config = load_config(args.config, overrides)
    sweep = open_sweep(Sweep, config, progress=not args.no_progress)
    try:
        if args.retry_failed:
            print(f"{sweep.claims.retry_failed()} failed cells are pending again", file=sys.stderr)
        if args.status:
            print(status_table(sweep))
            return 0
        failed = 0
        if not args.report:
            failed = _work(sweep, args)
        counts = sweep.claims.counts()
        if args.report or (not args.no_report and counts["running"] == 0):
            path = write_sweep_report(sweep, note=args.note)
            print(path.read_text(encoding="utf-8").split("## How to read this")[0].rstrip())
            print(f"\nreport: {path}")
        elif not args.no_report:  # the last worker to finish writes it (or: promptlift bench CONFIG --report)
            print(f"{counts['running']} cells still run on other workers: the last of them writes the report",
                  file=sys.stderr)
        print(f"cells: {counts['done']} done, {counts['failed']} failed, {counts['pending']} pending, "
              f"{counts['running']} running elsewhere", file=sys.stderr)
        return 1 if failed else 0
    finally:
        sweep.close()


def open_sweep(sweep_class: Any, config: Any, **kwargs: Any) -> Any:
    """The Sweep, or one line naming the storage that cannot be opened (a bad URL, a server not reached)."""
    try:
        return sweep_class(config, **kwargs)
    except PromptliftError:
        raise
    except Exception as exc:
        if not type(exc).__module__.startswith(("sqlalchemy", "optuna")):
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ConfigError(f"storage {config.storage_url}: cannot open it ({type(exc).__name__}: {first})") from None


def _work(sweep: Any, args: argparse.Namespace) -> int:
    if args.workers > 1:
        return _spawn(sweep, args)
    summary = sweep.work(wait=args.wait, max_cells=args.max_cells)
    print(f"worker {summary.worker}: {len(summary.ran)} cells run, {len(summary.failed)} failed"
          + (f", {len(summary.lost)} lost to another worker" if summary.lost else "")
          + (f", {sweep.db.retries} database retries" if sweep.db.retries else ""), file=sys.stderr)
    return len(summary.failed)


def _spawn(sweep: Any, args: argparse.Namespace) -> int:
    """``--workers N``: N child workers on this machine; this process shows the sweep's progress."""
    from promptlift.bench.progress import SweepBar

    argv = [sys.executable, "-m", "promptlift.cli", *(["-v"] * getattr(args, "verbose", 0)), "bench", args.config,
            "--workers", "1", "--no-report", "--no-progress", "--storage", sweep.config.storage_url,
            "--output", str(sweep.out), *(f"--set={pair}" for pair in args.set), *(["--wait"] if args.wait else [])]
    children = [subprocess.Popen(argv) for _ in range(args.workers)]
    try:
        with SweepBar(sweep.claims, sweep.config.name, enabled=not args.no_progress) as bar:
            while any(child.poll() is None for child in children):
                time.sleep(1.0)
                bar.refresh()
    except KeyboardInterrupt:
        for child in children:  # they got the Ctrl-C too: let them give their cells back
            child.wait()
        raise
    return sum(child.returncode != 0 for child in children)


def status_table(sweep: Any) -> str:
    """Per-host progress, then every cell's status."""
    from promptlift.bench.progress import host_progress

    cells = sweep.claims.rows()
    hosts = [(h["host"], h["workers"], h["running"], h["done"], h["failed"], h["reruns"]) for h in host_progress(cells)]
    rows = [(c["cell"], c["status"], c["attempts"], c["worker"] or "-", (c["error"] or "")[:60]) for c in cells]
    return (table(hosts, ("host", "workers", "running", "done", "failed", "re-runs")) + "\n\n"
            + table(rows, ("cell", "status", "attempts", "worker", "error")))
