"""Calibration with the real default model (SmolLM2 through llama.cpp) on a few examples."""

from __future__ import annotations

import json
import math

import pytest

from promptlift import Budget, Candidate, FewShot, Run, calibration, get_task, load_backend
from promptlift.errors import MissingDependency
from promptlift.types import choice_argmax

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def backend():
    pytest.importorskip("llama_cpp")
    try:
        return load_backend("llamacpp:smollm2")
    except (MissingDependency, ModuleNotFoundError) as exc:
        pytest.skip(f"default model unavailable: {exc}")


def test_contextual_calibration_of_a_plain_few_shot_candidate_on_the_real_model(backend, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path))
    task = get_task("sentiment", sizes=(40, 6, 4))
    run = Run(task, backend, budget=Budget(metric_calls=100), seed=0, cache=None)
    demos = FewShot(k=2).draw(run, task.train, task.choices)
    candidate = calibration.calibrate(run, task.seed.with_(demos=tuple(demos), format="plain"), "contextual")
    bias = candidate.calibration
    assert len(bias) == 2 and all(math.isfinite(b) for b in bias) and sum(bias) == pytest.approx(0, abs=1e-5)
    assert run.usage.calls == len(calibration.CONTENT_FREE) and run.trials == []

    evaluation = run.evaluate(candidate, task.val)
    for completion, prediction in zip(evaluation.completions, evaluation.trial.predictions):
        assert prediction == task.choices[choice_argmax(completion.choice_logprobs, bias)]
    restored = Candidate.from_dict(json.loads(json.dumps(candidate.to_dict())))
    again = Run(task, backend, budget=Budget(metric_calls=100), cache=None).evaluate(restored, task.val)
    assert again.trial.predictions == evaluation.trial.predictions
