"""The calibrated plain zero-shot candidate on sentiment with and without the training prior (README, decisions)."""
import dataclasses

import promptlift as pl
from promptlift import calibration
from promptlift.cache import ResponseCache
from promptlift.run import Run

task = pl.get_task("sentiment")
backend = pl.load_backend("llamacpp:smollm2")
cache = ResponseCache.default()
for name, t in (("with prior", task), ("uniform", dataclasses.replace(task, metric="balanced_accuracy"))):
    run = Run(t, backend, budget=pl.Budget(metric_calls=10_000), cache=cache)
    cand = calibration.contextual(run, task.seed.with_(format="plain"))
    run = Run(task, backend, budget=pl.Budget(metric_calls=10_000), cache=cache)
    print(name, cand.calibration, "val", run.score(cand, task.val).mean, "test", run.score(cand, task.test).mean)
