"""The benchmark harness end to end on a scripted test double (numbers here mean nothing)."""

import json

import pytest

pytest.importorskip("dspy")

from tests.benchmarks import script  # noqa: E402


def test_harness_writes_a_row_per_method_and_the_table(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path / "cache"))
    bench = script("fewshot_vs_dspy")
    out = tmp_path / "table"
    methods = ["promptlift/fewshot", "promptlift/mipro", "dspy/labeled", "dspy/bootstrap_rs"]
    assert bench.main(["--scripted", "--tasks", "sentiment", "--sizes", "30", "10", "8", "--seeds", "0",
                       "--budget", "50", "--bootstrap-size", "8", "--out", str(out), "--methods", *methods]) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    assert [r["method"] for r in data["runs"]] == methods
    for row in data["runs"]:
        assert 0 <= row["test"] <= 1  # a score, not NaN
        if row["method"].startswith("promptlift/"):
            assert row["metric_calls"] <= 50
    assert data["runs"][2]["metric_calls"] == 0  # LabeledFewShot never calls the metric
    assert data["runs"][3]["lm_calls"] >= data["runs"][3]["metric_calls"] > 0
    table = out.with_suffix(".md").read_text()
    assert table.count("\n") == 2 + len(methods) and "dspy/bootstrap_rs" in table
    assert "[[ ##" in json.dumps(data["dspy_prompts"])  # the DSPy prompt is kept as evidence
