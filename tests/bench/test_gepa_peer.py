"""The gepa-package peer (promptlift.bench.peers.gepa) and benchmarks/gepa_vs_gepa.py's promptlift runner,
on test doubles (no model)."""

from __future__ import annotations

import argparse
import importlib.util

import pytest

from promptlift import ScriptedBackend
from promptlift.testing.doubles import keyword_script, toy_task

pytestmark = pytest.mark.skipif(importlib.util.find_spec("gepa") is None, reason="the gepa package is not installed")

GOOD = "Decide the sentiment of the review: positive or negative."


def peer():
    from promptlift.bench.peers import gepa

    return gepa


def double(request):
    """Task double for scoring requests; a proposer double (fenced instruction) for the rest."""
    if request.choices:
        return keyword_script(request)
    return f"```\n{GOOD}\n```"


SETTINGS = dict(budget=90, minibatch=3, temperature=0.7, proposal_tokens=64, no_merge=False)


def args(**changes):
    return argparse.Namespace(**{**SETTINGS, "calibrate": None, **changes})


def test_adapter_scores_and_builds_the_reflective_dataset():
    module = peer()
    task = toy_task()
    adapter = module.PromptliftAdapter(task, ScriptedBackend(double))
    batch = list(task.train[:4])
    out = adapter.evaluate(batch, {"instruction": "Classify the review."}, capture_traces=True)
    assert out.scores == [0.0, 1.0, 0.0, 1.0] and adapter.metric_calls == 4
    rows = adapter.make_reflective_dataset({"instruction": "x"}, out, ["instruction"])["instruction"]
    assert rows[0]["Inputs"] == {"Review": batch[0]["review"]}
    assert "correct answer: positive" in rows[0]["Feedback"]


def test_gepa_package_runs_on_our_backend_within_its_budget(tmp_path):
    task = toy_task()
    best, row = peer().run(task, ScriptedBackend(double), 0, peer().GEPASettings(**SETTINGS), tmp_path)
    assert best.instruction == GOOD and row["val"] == 1.0
    assert row["metric_calls"] == row["reported_metric_calls"] >= 20
    assert row["proposer_calls"] >= 1


def test_promptlift_runner_reports_the_same_fields(tmp_path):
    task = toy_task()
    from tests.benchmarks import script

    best, row = script("gepa_vs_gepa").run_promptlift(task, ScriptedBackend(double), 0, args(), tmp_path)
    assert best.instruction == GOOD and row["val"] == 1.0
    assert row["metric_calls"] <= 90 and row["proposer_calls"] >= 1
