"""Stopping and killing the CLI: seconds from a signal to exit with a hung request, and requests
re-sent after a SIGKILL at request K against those in flight (the resumed result compared with
an uninterrupted run). Runs the same scenarios as tests/test_stopping.py, more times.

    python benchmarks/stopping.py --repeats 5 --kill-points 1,2,3,5,8,13,21,30,40,55
"""

from __future__ import annotations

import json
import signal
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from promptlift.bench import micro  # noqa: E402
from tests.backends.servers import FaultServer  # noqa: E402
from tests.processes import optimize_args, reviews, spawn  # noqa: E402
from tests.test_stopping import interrupted_run, killed_and_resumed  # noqa: E402

SAME = ("best_val", "baseline_val", "best_test", "baseline_test", "metric_calls")


def stops(server: FaultServer, repeats: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for name, signals in (("ctrl-c", [signal.SIGINT]), ("sigterm", [signal.SIGTERM]),
                          ("ctrl-c-twice", [signal.SIGINT, signal.SIGINT])):
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as directory:
                code, err, seconds, _ = interrupted_run(server, Path(directory), signals)
                assert code == 130 and "Traceback" not in err, err
                out.setdefault(name, []).append(round(seconds, 3))
    return out


def kills(server: FaultServer, points: list[int]) -> list[dict]:
    with tempfile.TemporaryDirectory() as directory:
        directory = Path(directory)
        env = {"OPENAI_API_KEY": "sk-test-0123456789", "PROMPTLIFT_CACHE": str(directory / "reference-cache")}
        server.plan()
        reference = spawn(optimize_args(reviews(directory / "data.jsonl"), server.url, directory / "reference",
                                        "--budget", "64", "--json"), env=env)
        expected = json.loads(reference.communicate(timeout=300)[0])
        rows = []
        for kill_at in points:
            facts = killed_and_resumed(server, directory, kill_at)
            rows.append({"kill_at": kill_at, "in_flight": facts["in_flight"], "re_sent": facts["re_sent"],
                         "identical": all(facts["result"][k] == expected[k] for k in SAME)})
        return rows


def main() -> None:
    parser = micro.parser(__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kill-points", default="1,2,3,5,8,13,21,30,40,55")
    parser.add_argument("--out", default="benchmarks/results/stopping.json")
    args = parser.parse_args()
    server = FaultServer(hang_seconds=120.0).start()
    try:
        load = micro.load(2)
        stop = stops(server, args.repeats)
        kill = kills(server, [int(k) for k in args.kill_points.split(",")])
    finally:
        server.stop()
    report = {"load_before": load, "load_after": micro.load(2),
              "seconds_to_exit": {k: {"median": statistics.median(v), "max": max(v), "all": v} for k, v in stop.items()},
              "kills": kill}
    micro.write(args.out, report)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
