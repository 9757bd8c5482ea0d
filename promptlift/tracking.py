"""MLflow tracking as a callback: a run's parameters, per-trial metrics and run directory in MLflow.

Optional (``pip install 'promptlift[mlflow]'``, the small ``mlflow-skinny`` client), imported
only when the callback starts. Everything goes through ``MlflowClient`` with the tracking URI
given, never MLflow's global active run, so two runs in one process never mix. Any tracking URI
MLflow takes works: a server, ``sqlite:///mlflow.db``, or offline a local file store
(``file:///path/mlruns``, which MLflow 3 keeps in maintenance mode: it asks for
``MLFLOW_ALLOW_FILE_STORE=true``).

Logged: the run's config as parameters (task, model, optimizer and its settings, budget, seed);
per validation trial the trial's score and the best so far (step: the trial number); at the end
the seed's and the best's val/test scores, the lift, the classification baselines and macro F1,
cost and seconds; and every file of the run directory as an artifact (report.html included).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Mapping

from promptlift.callbacks import Callback
from promptlift.errors import MissingDependency

log = logging.getLogger(__name__)

INSTALL = "pip install 'promptlift[mlflow]' (or: pip install mlflow-skinny)"
MAX_PARAM = 500  # MLflow limits a parameter's value; longer ones are cut


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config as ``a.b`` keys with text values (JSON for lists), each cut to ``MAX_PARAM``."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            out[name] = text[:MAX_PARAM]
    return out


def final_metrics(result: Any) -> dict[str, float]:
    """The numbers a finished Result is compared by (None values left out)."""
    found = {"best_val": result.best.mean, "baseline_val": result.baseline.mean, "best_test": result.best_test,
             "baseline_test": result.baseline_test, "lift": result.lift, "metric_calls": result.metric_calls,
             "lm_calls": result.usage.calls, "tokens": result.usage.tokens, "wall_seconds": result.wall_seconds,
             "search_seconds": result.search_seconds, "test_seconds": result.test_seconds}
    info = result.classification or {}
    for name, row in info.get("baselines", {}).items():
        found[f"{name}_baseline"] = row.get("score")
    best = info.get("candidates", {}).get("best", {})
    found.update({f"best_{k}": best.get(k) for k in ("macro_f1", "balanced_accuracy")})
    return {k: float(v) for k, v in found.items() if v is not None}


class MLflowCallback(Callback):
    """Log a run to MLflow (see the module docstring). ``tracking_uri``: where; ``experiment``: its name."""

    def __init__(self, tracking_uri: str | None = None, *, experiment: str = "promptlift",
                 run_name: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.run_name = run_name
        self.run_id: str | None = None
        self._client: Any = None

    def on_start(self, run: Any) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise MissingDependency(f"MLflow tracking needs the mlflow client; run: {INSTALL}") from None
        self._client = MlflowClient(tracking_uri=self.tracking_uri)
        found = self._client.get_experiment_by_name(self.experiment)
        experiment_id = found.experiment_id if found else self._client.create_experiment(self.experiment)
        name = self.run_name or f"{run.config.get('task', run.task.name)}-{run.config.get('optimizer', 'run')}"
        self.run_id = self._client.create_run(experiment_id, run_name=name).info.run_id
        from mlflow.entities import Param

        params = [Param(k, v) for k, v in flatten(run.config).items()]
        self._client.log_batch(self.run_id, params=params)

    def on_trial(self, run: Any, trial: Any) -> None:
        if self.run_id is None or trial.role != "val":
            return
        self._client.log_metric(self.run_id, "val_score", trial.mean, step=trial.number)
        self._client.log_metric(self.run_id, "best_val_so_far", run.best().mean, step=trial.number)

    def on_end(self, run: Any, result: Any) -> None:
        if self.run_id is None:
            return
        for name, value in final_metrics(result).items():
            self._client.log_metric(self.run_id, name, value)
        if run.log is not None:
            self._client.log_artifacts(self.run_id, str(run.log.dir))
        self._client.set_terminated(self.run_id)
        log.info("MLflow run %s (%s)", self.run_id, self.tracking_uri or "the default tracking URI")
