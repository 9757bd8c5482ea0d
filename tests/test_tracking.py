"""The MLflow callback, read back through MLflow's own client (a local file store, offline)."""

import pytest

from promptlift import FewShot
from promptlift.testing.doubles import scripted, toy_task
from promptlift.tracking import MLflowCallback, flatten


def test_a_run_is_logged_to_mlflow_and_read_back(tmp_path, monkeypatch):
    tracking = pytest.importorskip("mlflow.tracking", reason="mlflow is not installed (the mlflow extra)")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    callback = MLflowCallback(uri, experiment="tests")
    result = FewShot(k=2).optimize(toy_task(), scripted(), budget=60, cache=None, run_dir=tmp_path / "run",
                                   callbacks=[callback])
    stored = tracking.MlflowClient(tracking_uri=uri).get_run(callback.run_id)
    assert stored.data.params["task"] == "toy" and stored.data.params["optimizer"] == "fewshot"
    assert stored.data.params["budget.metric_calls"] == "60"
    assert stored.data.metrics["best_test"] == result.best_test and stored.data.metrics["best_macro_f1"] == 1.0
    history = tracking.MlflowClient(tracking_uri=uri).get_metric_history(callback.run_id, "val_score")
    assert [m.step for m in history] == [t.number for t in result.trials if t.role == "val"]
    artifacts = {a.path for a in tracking.MlflowClient(tracking_uri=uri).list_artifacts(callback.run_id)}
    assert {"result.json", "report.html", "trials.jsonl"} <= artifacts
    assert stored.info.status == "FINISHED"


def test_nested_config_becomes_flat_text_parameters():
    assert flatten({"a": {"b": 1}, "c": [1, 2], "d": "x" * 900}) == {"a.b": "1", "c": "[1, 2]", "d": "x" * 500}
