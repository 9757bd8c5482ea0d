"""Training on the torch backend's model: the step/validate loop every gradient rung shares
(:mod:`~promptlift.training.loop`), the weight-training models (:mod:`~promptlift.training.weights`)
and the linear probe (:mod:`~promptlift.training.probe`). Optimizers import this package; it
imports the backends, never the reverse."""
