"""Benchmark sweeps: tasks x optimizers x models x budgets x seeds on one shared Optuna study.

    from promptlift.bench import Sweep, load_config, write_sweep_report
    sweep = Sweep(load_config("benchmarks/configs/smoke.yaml"))
    sweep.work()                      # run cells until none is left to claim
    write_sweep_report(sweep)         # results.csv/.parquet, summary.csv, plots, report.md

The CLI is ``promptlift bench CONFIG.yaml``; see :mod:`promptlift.bench.sweep` for how
workers share a sweep and :mod:`promptlift.bench.config` for the YAML format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptlift.bench.config import Cell, SweepConfig, grid_cells, load_config, parse_config, parse_overrides
from promptlift.bench.report import results_frame, summary_frame, write_report
from promptlift.bench.sweep import Sweep, WorkSummary


def write_sweep_report(sweep: Sweep, *, note: str = "") -> Path:
    """The report of everything the sweep's storage holds, into its output folder."""
    config = sweep.config
    return write_report(sweep.claims.rows(), sweep.out, name=config.name, storage=config.storage_url,
                        description=config.description, note=note)


def results(sweep: Sweep) -> Any:
    """The sweep's finished cells as a DataFrame (one row per cell)."""
    return results_frame(sweep.claims.rows())


__all__ = [
    "Cell", "Sweep", "SweepConfig", "WorkSummary", "grid_cells", "load_config", "parse_config", "parse_overrides",
    "results", "results_frame", "summary_frame", "write_report", "write_sweep_report",
]
