"""What the benchmark scripts in ``benchmarks/`` share: their argument parser, the machine's load,
mean ± std over seeds and the ``<out>.json`` + ``<out>.md`` pair they write.

Sweeps are configs run by ``promptlift bench``; the scripts are the measurements that are not
sweeps (throughput, agreement, fault injection ...) and the comparison tables the README quotes.
Standard library only, so a script's ``--help`` costs nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path
from typing import Any, Iterable


def parser(doc: str | None, *, whole: bool = False) -> argparse.ArgumentParser:
    """A script's parser, described by its docstring's first paragraph (``whole``: all of it, as written)."""
    if whole:
        return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    return argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])


def load(digits: int = 1) -> float:
    """The one-minute load average, rounded (every timing is quoted beside it)."""
    return round(os.getloadavg()[0], digits)


def machine() -> str:
    return f"{os.cpu_count()} CPU cores, load average {load():.1f} at start"


def mean_std(values: Iterable[float], *, population: bool = False) -> tuple[float, float]:
    """Mean and standard deviation (sample, or ``population``); the deviation of one value is 0."""
    values = list(values)
    if len(values) < 2:
        return statistics.mean(values), 0.0
    return statistics.mean(values), statistics.pstdev(values) if population else statistics.stdev(values)


def pm(values: Iterable[float], digits: int = 3) -> str:
    """``mean ± std`` of ``values`` (sample deviation)."""
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def write(out: str | Path, data: Any, markdown: str | None = None, *, indent: int = 1, **dumps: Any) -> Path:
    """``<out>.json`` (``data``; ``dumps`` go to ``json.dumps``) and, given, ``<out>.md``; folders are
    made. Returns the JSON path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    path = out.with_suffix(".json")
    path.write_text(json.dumps(data, indent=indent, **dumps) + "\n")
    if markdown is not None:
        out.with_suffix(".md").write_text(markdown if markdown.endswith("\n") else markdown + "\n")
    return path
