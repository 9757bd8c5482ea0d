"""Fitting a linear probe: scikit-learn's logistic regression on one hidden layer's features.

Features are standardised for the fit, and the scaling is folded back into the head, so the
saved probe is a plain ``logits = hidden @ weight.T + bias`` over the task's choices (in the
task's order). Classes the training split lacks get a zero row and a very low bias: they are
never predicted, which is all a probe can honestly say about a class it never saw.
"""

from __future__ import annotations

from typing import Any, Sequence

ABSENT = -30.0  # the logit of a class with no training example


def fit(features: Any, labels: Sequence[int], n_classes: int, *, c: float, seed: int) -> tuple[Any, Any]:
    """(weight [n_classes, hidden], bias [n_classes]) float32 tensors fitted on ``features`` [N, hidden]."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    x = features.double().cpu().numpy()
    y = np.asarray(labels)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    weight = np.zeros((n_classes, x.shape[1]))
    bias = np.full(n_classes, ABSENT)
    present = sorted(set(y.tolist()))
    if len(present) == 1:
        bias[present[0]] = 0.0
    else:
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit((x - mean) / std, y)
        coef, intercept = model.coef_, model.intercept_
        if len(present) == 2:  # sklearn's binary form: one row for the second class against the first
            coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
        for row, label in enumerate(model.classes_):
            weight[label] = coef[row] / std
            bias[label] = intercept[row] - float((coef[row] * mean / std).sum())
    return torch.tensor(weight, dtype=torch.float32), torch.tensor(bias, dtype=torch.float32)


def auto_layers(n_layers: int) -> list[int]:
    """Layers to try, most promising first: late-middle layers usually probe best on small LMs."""
    fractions = (0.75, 0.5, 1.0, 0.625, 0.875, 0.25)
    out: list[int] = []
    for f in fractions:
        layer = max(1, min(n_layers, round(f * n_layers)))
        if layer not in out:
            out.append(layer)
    return out
