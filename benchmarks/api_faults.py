"""The figures of issue 3's "Done when", measured at the wire of a loopback fault server.

For both API backends (openai SDK, litellm) this prints:

- requests per logical call for each fault kind, the fault happening once and then always
  (with ``max_retries=3``: a persistent retryable fault costs 1 + 3 requests);
- the longest wall time of a call to a hanging server against its deadline;
- model calls on a cached replay of a short optimisation (must be 0);
- canary occurrences: a child process runs success and failure paths with the API key set to
  a unique canary and DEBUG logging everywhere; its stdout, stderr, log file, run directory
  and cache directory are then searched (must be 0).

    .venv/bin/python benchmarks/api_faults.py            # writes benchmarks/results/api_faults.json
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from promptlift import Budget, FewShot, ResponseCache  # noqa: E402
from promptlift.bench import micro  # noqa: E402
from promptlift.cache import CachedBackend  # noqa: E402
from promptlift.errors import BackendError  # noqa: E402
from promptlift.testing.doubles import toy_task  # noqa: E402
from promptlift.types import Message, Request  # noqa: E402
from tests.backends.conftest import make_backend  # noqa: E402
from tests.backends.servers import FaultServer, set_plan  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
FAULTS = ("429", "429-retry-after", "500", "503", "408", "reset", "hang", "badjson", "nochoices", "401", "400", "ctx400")
ENGINES = ("openai", "litellm")
REQUEST = Request(messages=(Message("user", "Review: a fine film"),), choices=("positive", "negative"))
OPTIONS = {"max_retries": 3, "backoff": 0.01, "backoff_max": 0.05, "deadline": 2.0}


def requests_per_call(server: FaultServer, engine: str, fault: str, persistent: bool) -> dict[str, Any]:
    backend = make_backend(engine, server.url, **OPTIONS)
    server.plan()
    backend.complete([Request(messages=(Message("user", "warm up"),))])  # imports off the clock
    server.plan(fault, then=fault if persistent else "ok")
    started = time.monotonic()
    try:
        backend.complete([REQUEST])
        outcome = "answered"
    except BackendError as exc:
        outcome = f"{type(exc).__name__}" + (f" (HTTP {exc.status})" if exc.status else "")
    return {"requests": server.hits, "outcome": outcome, "seconds": round(time.monotonic() - started, 3)}


def hanging_calls(server: FaultServer, engine: str, deadline: float, calls: int,
                  attempt_timeout: float | None = None) -> dict[str, Any]:
    backend = make_backend(engine, server.url, **{**OPTIONS, "deadline": deadline, "attempt_timeout": attempt_timeout})
    server.plan()
    backend.complete([Request(messages=(Message("user", "warm up"),))])
    server.plan(then="hang")
    walls = []
    for _ in range(calls):
        started = time.monotonic()
        try:
            backend.complete([REQUEST])
        except BackendError:
            pass
        walls.append(time.monotonic() - started)
    return {"deadline": deadline, "attempt_timeout": attempt_timeout, "calls": calls, "requests": server.hits,
            "longest": round(max(walls), 3),
            "mean": round(sum(walls) / len(walls), 3)}


def cached_replay(server: FaultServer, engine: str, cache_dir: Path) -> dict[str, Any]:
    cache = ResponseCache(cache_dir / f"{engine}.sqlite")
    backend = make_backend(engine, server.url, **OPTIONS)
    task = toy_task(16)
    server.plan()
    first = FewShot(k=2, max_candidates=3).optimize(task, backend, budget=Budget(metric_calls=16), cache=cache)
    first_requests = server.hits
    server.plan()
    replay = FewShot(k=2, max_candidates=3).optimize(task, backend, budget=Budget(metric_calls=16), cache=cache)
    return {"first_run_requests": first_requests, "replay_requests": server.hits,
            "same_trials": [t.scores for t in first.trials] == [t.scores for t in replay.trials]}


CANARY_FAILURES = ("401", "leak401", "403", "500", "429", "badjson", "nochoices", "reset", "hang")


def canary_child(workdir: Path, engine: str, url: str, canary: str) -> None:
    """Runs inside the child process: a short optimisation, then every failure path, DEBUG logging on."""
    logging.basicConfig(level=logging.DEBUG, filename=workdir / "debug.log")
    for name in ("LiteLLM", "litellm", "openai", "httpx", "httpcore", "promptlift"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    cache = ResponseCache(workdir / "cache" / "responses.sqlite")
    backend = make_backend(engine, url, api_key=canary, max_retries=1, deadline=5.0)
    set_plan(url)
    FewShot(k=2, max_candidates=2).optimize(toy_task(16), backend, budget=Budget(metric_calls=12),
                                            run_dir=workdir / "run", cache=cache)
    for fault in CANARY_FAILURES:
        set_plan(url, then=fault)
        short = make_backend(engine, url, api_key=canary, max_retries=1, deadline=0.5 if fault == "hang" else 5.0)
        try:
            CachedBackend(short, cache).complete([Request(messages=(Message("user", f"x {fault}"),))])
        except BackendError as exc:
            logging.getLogger("promptlift.bench").exception("expected failure (%s): %s", fault, exc)
            print(f"failed as expected: {exc!r}", file=sys.stderr)
    print(repr(backend), vars(backend))


def canary_occurrences(engine: str, server: FaultServer) -> dict[str, Any]:
    canary = f"sk-canary-{uuid.uuid4().hex}"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server.plan()
        child = subprocess.run(
            [sys.executable, __file__, "--canary-child", str(workdir), engine, server.url, canary],
            capture_output=True, text=True, timeout=600, cwd=ROOT, env={**os.environ, "PROMPTLIFT_CACHE": tmp},
        )
        places = {"stdout": child.stdout, "stderr": child.stderr}
        for path in sorted(workdir.rglob("*")):
            if path.is_file():
                places[str(path.relative_to(workdir))] = path.read_bytes().decode("utf-8", "replace")
        return {"child_exit": child.returncode, "places_searched": sorted(places),
                "log_lines": places.get("debug.log", "").count("\n"),
                "occurrences": sum(t.count(canary) for t in places.values()),
                "partial_occurrences": sum(t.count(canary[10:26]) for t in places.values()),
                "key_reached_server": any(canary in str(h) for h in server.headers)}


def main() -> int:
    parser = micro.parser(__doc__, whole=True)
    parser.add_argument("--canary-child", nargs=4, metavar=("DIR", "ENGINE", "URL", "CANARY"), help=argparse.SUPPRESS)
    parser.add_argument("--engines", nargs="+", default=list(ENGINES))
    args = parser.parse_args()
    if args.canary_child:
        workdir, engine, url, canary = args.canary_child
        canary_child(Path(workdir), engine, url, canary)
        return 0
    server = FaultServer(hang_seconds=30).start()
    report: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["PROMPTLIFT_CACHE"] = tmp
            for engine in args.engines:
                report[engine] = {
                    "once": {f: requests_per_call(server, engine, f, persistent=False) for f in FAULTS},
                    "persistent": {f: requests_per_call(server, engine, f, persistent=True) for f in FAULTS if f != "hang"},
                    "hang": hanging_calls(server, engine, deadline=1.0, calls=5),
                    "hang_retried": hanging_calls(server, engine, deadline=1.0, calls=5, attempt_timeout=0.3),
                    "cached_replay": cached_replay(server, engine, Path(tmp)),
                    "canary": canary_occurrences(engine, server),
                }
    finally:
        server.stop()
    print_report(report)
    micro.write(RESULTS / "api_faults", report, indent=2)
    return 0


def print_report(report: dict[str, Any]) -> None:
    for engine, figures in report.items():
        print(f"\n== {engine} (max_retries={OPTIONS['max_retries']}) ==")
        print(f"{'fault':<16} {'once: requests':>15} {'outcome':<34} {'persistent: requests':>21}  outcome")
        for fault, once in figures["once"].items():
            always = figures["persistent"].get(fault, {"requests": "-", "outcome": "-"})
            print(f"{fault:<16} {once['requests']:>15} {once['outcome']:<34} {always['requests']:>21}  {always['outcome']}")
        for hang in (figures["hang"], figures["hang_retried"]):
            print(f"hanging server: {hang['calls']} calls, deadline {hang['deadline']} s, attempt_timeout "
                  f"{hang['attempt_timeout']}: longest {hang['longest']} s, mean {hang['mean']} s, "
                  f"{hang['requests']} requests in all")
        replay = figures["cached_replay"]
        print(f"cached replay: first run {replay['first_run_requests']} requests, replay {replay['replay_requests']} "
              f"requests (same trials: {replay['same_trials']})")
        canary = figures["canary"]
        print(f"canary: {canary['occurrences']} occurrences ({canary['partial_occurrences']} partial) in "
              f"{len(canary['places_searched'])} places ({canary['log_lines']} debug log lines, child exit "
              f"{canary['child_exit']}); key reached the server: {canary['key_reached_server']}")


if __name__ == "__main__":
    sys.exit(main())
