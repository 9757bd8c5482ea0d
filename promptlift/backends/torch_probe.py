"""Hidden-state features and linear-probe scoring for the torch backend.

A linear probe reads the hidden state of the prompt's last token at one layer (0: the
embeddings, ``n_layers``: the last layer after the final norm, as transformers'
``hidden_states`` counts them) and maps it to one logit per class. Training
(:mod:`promptlift.training.probe`) and scoring call the same :func:`features`, so the probe
is evaluated on exactly the representation it was fitted on.
"""

from __future__ import annotations

from typing import Any, Sequence

BATCH = 16


def features(model: Any, prompts: Sequence[Sequence[int]], layers: Sequence[int], *, pad_id: int = 0) -> Any:
    """[N, len(layers), hidden] float32: the last prompt token's hidden state at each layer.

    Prompts run in right-padded batches of ``BATCH`` (the padding comes after the token read,
    so causal attention never sees it).
    """
    import torch

    device = model.get_input_embeddings().weight.device
    out = []
    with torch.inference_mode():
        for start in range(0, len(prompts), BATCH):
            part = [list(p) for p in prompts[start : start + BATCH]]
            width = max(len(p) for p in part)
            ids = torch.tensor([p + [pad_id] * (width - len(p)) for p in part], device=device)
            mask = torch.tensor([[1] * len(p) + [0] * (width - len(p)) for p in part], device=device)
            hidden = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
            last = torch.tensor([len(p) - 1 for p in part], device=device)
            rows = torch.arange(len(part), device=device)
            out.append(torch.stack([hidden[layer][rows, last] for layer in layers], dim=1).float())
    return torch.cat(out)


def choice_logprobs(model: Any, probe: Any, prompts: Sequence[Sequence[int]], *, pad_id: int = 0) -> list[list[float]]:
    """Each prompt's log-softmax over the probe's classes."""
    import torch

    x = features(model, prompts, [probe.layer], pad_id=pad_id)[:, 0]
    logits = x @ probe.weight.T + probe.bias
    return torch.log_softmax(logits, dim=-1).tolist()


def layer_count(model: Any) -> int:
    """How many hidden-state layers a probe can read, 0..n (``num_hidden_layers`` + 1 entries)."""
    return int(model.config.num_hidden_layers)
