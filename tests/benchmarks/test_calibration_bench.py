"""benchmarks/calibration.py end to end on the biased test double (numbers here mean nothing)."""

import json

from promptlift.testing.doubles import toy_task
from tests.benchmarks import script
from tests.test_calibration import biased


def test_harness_scores_every_cell_three_ways_and_merges(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path / "cache"))
    bench = script("calibration")
    monkeypatch.setattr(bench, "load_backend", lambda spec: biased())
    monkeypatch.setattr(bench, "get_task", lambda name: toy_task())
    out = tmp_path / "table"
    assert bench.main(["--tasks", "toy", "--seeds", "0,1", "--test", "10", "--verbalizers", "--out", str(out)]) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    assert len(data["rows"]) == 2 * 2 * 4 * 2  # shots x formats x verbalizers x seeds
    for entry in data["table"]:  # the double: always "positive" as scored, exact once calibrated
        assert entry["scored"] == [0.5, 0.0] and entry["contextual"] == [1.0, 0.0] and entry["batch"] == [1.0, 0.0]
    assert "| toy | 4 | plain | great/terrible | 0.500 ± 0.000 | 1.000 ± 0.000 | 1.000 ± 0.000 |" in (
        out.with_suffix(".md").read_text())
    merged = tmp_path / "merged"
    assert bench.main(["--merge", str(out.with_suffix(".json")), str(out.with_suffix(".json")), "--out", str(merged)]) == 0
    assert len(json.loads(merged.with_suffix(".json").read_text())["rows"]) == len(data["rows"])
