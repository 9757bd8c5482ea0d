"""A sweep on the real model over three worker hosts, with a killed host and a database outage.

Three hosts are network namespaces on a bridge (each its own address and host name, its own
output folder: nothing shared on disk), PostgreSQL 15 listens on the bridge's address. The
sweep (``benchmarks/configs/multihost.yaml``, SmolLM2 through llama.cpp, 1 thread a worker)
runs three times, each in a fresh database on that server:

1. ``single``: one worker on host1;
2. ``three``: one worker on each host;
3. ``faults``: the same, but host2 is cut off (its veth deleted) and SIGKILLed while it holds
   a cell, after it finished one; when 4 cells are done, PostgreSQL is stopped for 30 s and
   started again.

Then it checks every cell is done exactly once (one COMPLETE Optuna trial per cell), that the
killed cell was re-run by another host, and that each run's scores equal the single worker's,
and writes ``benchmarks/results/multihost.{json,md}``. Needs root (network namespaces) and
PostgreSQL (``apt-get install postgresql-15``)::

    PROMPTLIFT_THREADS=1 .venv/bin/python benchmarks/multihost.py
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from promptlift.bench import micro  # noqa: E402
from promptlift.bench.versions import host_of, versions  # noqa: E402
from tests.bench.helpers import cell_rows, completions, study_trials  # noqa: E402
from tests.bench.netns import Hosts  # noqa: E402
from tests.bench.pgserver import PostgresServer  # noqa: E402

CONFIG = ROOT / "benchmarks" / "configs" / "multihost.yaml"
RESULTS = ROOT / "benchmarks" / "results"
SCORES = ["baseline_val", "best_val", "baseline_test", "best_test", "lift", "metric_calls"]
LIMIT = 1800.0  # seconds any one run may take before the script gives up on it


def bench(*args: str) -> list[str]:
    return [sys.executable, "-m", "promptlift.cli", "bench", str(CONFIG), "--no-progress", *args]


def launch(hosts: Hosts, host: Any, url: str, out: Path) -> subprocess.Popen:
    log = open(out / f"{host.name}.log", "w")  # noqa: SIM115 (closed when the process ends)
    argv = bench("--storage", url, "--wait", "--no-report", "--output", str(out / host.name))
    return hosts.popen(host, argv, cwd=ROOT, stdout=log, stderr=log, env={**os.environ, "PROMPTLIFT_THREADS": "1"})


def run(hosts: Hosts, server: PostgresServer, members: list[Any], out: Path, outage: float | None) -> dict[str, Any]:
    """One sweep in a fresh database; with ``outage``: kill host2 mid-cell, then stop the database."""
    out.mkdir(parents=True)
    url = server.create_database(out.name)
    load = os.getloadavg()
    started = time.monotonic()
    procs = {h.name: launch(hosts, h, url, out) for h in members}
    events: list[dict[str, Any]] = []
    if outage is not None:
        inject(hosts, server, url, procs, started, events, outage)
    codes = {name: p.wait(timeout=LIMIT) for name, p in procs.items()}
    wall = time.monotonic() - started
    logs = {h.name: (out / f"{h.name}.log").read_text() for h in members}
    killed = {e.get("host") for e in events}
    broken = {name: logs[name][-1500:] for name, code in codes.items() if code != 0 and name not in killed}
    if broken:
        raise SystemExit(f"{out.name}: workers failed: {broken}")
    report = out / "report"
    subprocess.run(bench("--storage", url, "--report", "--output", str(report)), cwd=ROOT, check=True,
                   capture_output=True)
    rows = cell_rows(url, "multihost")
    done = completions(study_trials(url, "multihost"))
    return {
        "url": url, "wall_seconds": round(wall, 1), "load_before": [round(x, 2) for x in load],
        "load_after": [round(x, 2) for x in os.getloadavg()], "exit_codes": codes, "events": events,
        "cells": len(rows), "done": sum(r["status"] == "done" for r in rows),
        "reruns": {r["cell"]: host_of(r["worker"]) for r in rows if r["attempts"] > 1},
        "duplicate_completions": sum(n - 1 for n in done.values()), "cells_without_completion": len(rows) - len(done),
        "cells_per_host": {h: sum(host_of(r["worker"]) == h for r in rows if r["status"] == "done")
                           for h in sorted({host_of(r["worker"]) for r in rows if r["worker"]})},
        "retries": {name: retry_lines(text) for name, text in logs.items()},
        "scores": pd.read_csv(report / "results.csv").set_index("cell")[SCORES].sort_index(),
    }


def inject(hosts: Hosts, server: PostgresServer, url: str, procs: dict[str, subprocess.Popen], started: float,
           events: list[dict[str, Any]], outage: float) -> None:
    """Kill host2 while it holds a cell (after it finished one); stop the database once 4 cells are done."""
    victim = hosts.hosts[1]
    killed = stopped = False
    while time.monotonic() - started < LIMIT and not (killed and stopped):
        if all(p.poll() is not None for p in procs.values()):
            break
        rows = cell_rows(url, "multihost")
        mine = [r for r in rows if host_of(r["worker"]) == victim.name]
        held = [r for r in mine if r["status"] == "running" and r["trial_number"] is not None]
        if not killed and held and any(r["status"] == "done" for r in mine):
            hosts.cut(victim)
            procs[victim.name].kill()
            killed = True
            events.append({"at": round(time.monotonic() - started, 1), "event": "cut off and SIGKILLed",
                           "host": victim.name, "cell": held[0]["cell"]})
        elif not stopped and sum(r["status"] == "done" for r in rows) >= 4:
            server.stop()
            events.append({"at": round(time.monotonic() - started, 1), "event": "PostgreSQL stopped",
                           "pending": sum(r["status"] == "pending" for r in rows),
                           "running": sum(r["status"] == "running" for r in rows)})
            time.sleep(outage)
            server.start()
            stopped = True
            events.append({"at": round(time.monotonic() - started, 1), "event": "PostgreSQL started again"})
        time.sleep(0.5)


def retry_lines(text: str) -> dict[str, Any]:
    lines = [line for line in text.splitlines() if "database unreachable during" in line]
    back = [float(x) for x in re.findall(r"database reachable again after ([0-9.]+) s", text)]
    return {"retry_lines": len(lines), "longest_wait_s": max(back, default=None),
            "first": lines[0] if lines else None,
            "summary": next((line for line in text.splitlines() if line.startswith("worker ")), None)}


def main() -> None:
    parser = micro.parser(__doc__)
    parser.add_argument("--outage", type=float, default=30.0, help="seconds the database is down in the faults run")
    parser.add_argument("--name", default="multihost", help="results file name (benchmarks/results/NAME.{json,md})")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="multihost-") as tmp, Hosts(3) as hosts, \
            PostgresServer(hosts.bridge_address, network=str(hosts.subnet)) as server:
        runs = {"single": run(hosts, server, hosts.hosts[:1], Path(tmp) / "single", None),
                "three": run(hosts, server, hosts.hosts, Path(tmp) / "three", None),
                "faults": run(hosts, server, hosts.hosts, Path(tmp) / "faults", args.outage)}  # last: cuts host2
    write(runs, args)


def write(runs: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    single = runs["single"]["scores"]
    for run_ in runs.values():
        frame = run_.pop("scores")
        run_["scores_equal_single"] = bool(frame.equals(single))
        run_["cells_compared"] = len(frame)
    summary = {"config": str(CONFIG.relative_to(ROOT)), "outage_seconds": args.outage, "versions": versions(),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": runs,
               "wall_ratio_three_vs_single": round(runs["three"]["wall_seconds"] / runs["single"]["wall_seconds"], 2),
               "wall_ratio_faults_vs_single": round(runs["faults"]["wall_seconds"] / runs["single"]["wall_seconds"], 2)}
    micro.write(RESULTS / args.name, summary, markdown(summary))
    print(markdown(summary))


def markdown(s: dict[str, Any]) -> str:
    lines = [f"# Multi-host sweep ({s['date']})", "",
             f"`{s['config']}` on PostgreSQL 15 over a bridge; hosts are network namespaces on one 2-core machine "
             f"(load average before each run in the table). Optuna {s['versions']['optuna']}.", "",
             "| run | hosts | cells | done | re-runs | duplicate completions | scores = single | wall s | load before |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in s["runs"].items():
        per_host = ", ".join(f"{h}: {n}" for h, n in r["cells_per_host"].items())
        lines.append(f"| {name} | {len(r['exit_codes'])} ({per_host}) "
                     f"| {r['cells']} | {r['done']} | {len(r['reruns'])} | {r['duplicate_completions']} "
                     f"| {r['scores_equal_single']} | {r['wall_seconds']} | {r['load_before'][0]} |")
    lines += ["", f"Wall time against one worker: three hosts {s['wall_ratio_three_vs_single']}x, with the faults "
              f"{s['wall_ratio_faults_vs_single']}x.", "", "## The faults run", ""]
    faults = s["runs"]["faults"]
    lines += [f"- {e['at']} s: {e['event']}" + "".join(f", {k} {v}" for k, v in e.items() if k not in ("at", "event"))
              for e in faults["events"]]
    lines += [f"- re-run: {cell} by {host}" for cell, host in faults["reruns"].items()]
    lines += [f"- {host}: exit {faults['exit_codes'][host]}, {r['retry_lines']} retry lines, back after "
              f"{r['longest_wait_s']} s; {r['summary']}" for host, r in faults["retries"].items()]
    first = next((r["first"] for r in faults["retries"].values() if r["first"]), None)
    if first:
        lines += ["", "A retry line, as logged:", "", "```", first, "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
