"""Progress bars: one for the sweep (cells finished by any worker), one per cell (metric calls)."""

from __future__ import annotations

import sys
from typing import Any

from promptlift.callbacks import ProgressBar


class SweepBar:
    """Cells done or failed across all workers, read from the claim table."""

    def __init__(self, claims: Any, name: str, *, enabled: bool = True) -> None:
        self.claims = claims
        self.name = name
        self.enabled = enabled
        self._bar = None

    def __enter__(self) -> SweepBar:
        if self.enabled:
            from tqdm.auto import tqdm

            bar = self._bar = tqdm(total=0, unit="cell", desc=f"sweep {self.name}", position=0, dynamic_ncols=True,
                                   file=sys.stderr)
            self.refresh()
            bar.initial = bar.n  # rate and time left count the cells finished since this bar opened
        return self

    def refresh(self) -> None:
        if self._bar is None:
            return
        counts = self.claims.counts()
        self._bar.total = sum(counts.values())
        self._bar.n = counts["done"] + counts["failed"]
        self._bar.set_postfix(running=counts["running"], failed=counts["failed"], refresh=False)
        self._bar.refresh()

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class CellBar(ProgressBar):
    """The run's metric calls, under the sweep bar, named after the cell."""

    def __init__(self, cell: str) -> None:
        super().__init__(position=1, leave=False, file=sys.stderr)
        self.cell = cell

    def on_start(self, run: Any) -> None:
        super().on_start(run)
        if self._bar is not None:
            self._bar.set_description(self.cell[:48])


def host_progress(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per host (from the worker ids): workers seen, cells running, done, failed, and re-runs
    (cells it finished that another worker had claimed before: a dead worker's cells)."""
    from promptlift.bench.versions import host_of

    hosts: dict[str, dict[str, Any]] = {}
    for cell in cells:
        if not cell.get("worker"):
            continue
        entry = hosts.setdefault(host_of(cell["worker"]), {"workers": set(), "running": 0, "done": 0, "failed": 0,
                                                           "reruns": 0})
        entry["workers"].add(cell["worker"])
        if cell["status"] in ("running", "done", "failed"):
            entry[cell["status"]] += 1
        entry["reruns"] += cell["status"] == "done" and cell["attempts"] > 1
    return [{"host": host, **entry, "workers": len(entry["workers"])} for host, entry in sorted(hosts.items())]
