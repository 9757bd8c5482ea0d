"""Trained weights a candidate refers to by path, applied by the torch backend.

A training rung never puts tensors in a candidate: it saves them in a directory beside the
run and the candidate carries the path (``Candidate.weights``, copied into
``Request.weights``), as soft prompts do. Three kinds, each in the format its own ecosystem
reads, so the files are useful outside promptlift too:

- ``lora``: a PEFT adapter (``adapter_config.json`` + ``adapter_model.safetensors``), loadable
  by plain transformers + PEFT (or vLLM); the backend merges it into a copy of its model.
- ``finetune``: a whole transformers model directory (``config.json`` + ``model.safetensors``),
  loadable with ``AutoModelForCausalLM.from_pretrained``.
- ``probe``: a linear head on one hidden layer (``probe.safetensors``: ``weight`` [classes,
  hidden], ``bias`` [classes]); the layer and the classes are in the metadata.

Every directory also holds ``promptlift.json`` (kind, the backend id of the model it was
trained on, and what the trainer wants recorded). A backend refuses weights trained on
another model. Directories are content-addressed (``<kind>-<hash>``): the response cache
keys requests by path, so a path must never come to hold other weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from promptlift.errors import BackendError, ConfigError

log = logging.getLogger(__name__)

KINDS = ("lora", "finetune", "probe")
METADATA = "promptlift.json"
PROBE_FILE = "probe.safetensors"


@dataclass(frozen=True)
class Probe:
    """A loaded linear probe: logits = hidden[layer] @ weight.T + bias, one per class."""

    weight: Any  # torch.Tensor [classes, hidden]
    bias: Any  # torch.Tensor [classes]
    layer: int
    classes: tuple[str, ...]


def read_metadata(directory: str | Path, *, model_id: str | None = None) -> dict[str, Any]:
    """The directory's ``promptlift.json``; a BackendError if it is missing, malformed or for another model."""
    path = Path(directory) / METADATA
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackendError(f"{directory} holds no readable trained weights ({METADATA}: {exc})") from None
    if not isinstance(data, dict) or data.get("kind") not in KINDS:
        raise BackendError(f"{path}: 'kind' must be one of {KINDS}")
    if model_id is not None and data.get("model_id") != model_id:
        raise BackendError(f"the weights at {directory} were trained on {data.get('model_id')!r}, "
                           f"not on {model_id!r}")
    return data


def save(parent: str | Path, kind: str, model_id: str, write: Callable[[Path], None], **metadata: Any) -> Path:
    """Write weights with ``write(tmp_dir)`` and move them to ``parent/<kind>-<hash>``; return that path.

    The hash covers every file written and the metadata, so equal weights land on one path
    (a re-run replays from the cache) and different weights never share one.
    """
    if kind not in KINDS:
        raise ConfigError(f"weights kind must be one of {KINDS}. Got {kind!r}.")
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".weights-", dir=parent))
    try:
        write(tmp)
        (tmp / METADATA).write_text(json.dumps({"kind": kind, "model_id": model_id, **metadata}, sort_keys=True))
        final = parent / f"{kind}-{_hash_dir(tmp)}"
        if final.exists():
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _hash_dir(directory: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(file.relative_to(directory).as_posix().encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def load_model(base: Any, directory: str | Path, kind: str, *, device: Any, dtype: Any) -> Any:
    """The model a ``lora`` or ``finetune`` directory describes, on ``device`` in ``dtype``, in eval mode."""
    import copy

    directory = Path(directory)
    if kind == "lora":
        from peft import PeftModel

        model = PeftModel.from_pretrained(copy.deepcopy(base), str(directory)).merge_and_unload()
    else:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(str(directory), dtype=dtype, attn_implementation="sdpa")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model.to(device=device, dtype=dtype).eval()


def save_probe(directory: Path, weight: Any, bias: Any) -> None:
    from safetensors.torch import save_file

    save_file({"weight": weight.contiguous(), "bias": bias.contiguous()}, str(directory / PROBE_FILE))


def load_probe(directory: str | Path, metadata: dict[str, Any], *, device: Any) -> Probe:
    from safetensors.torch import load_file

    path = Path(directory) / PROBE_FILE
    try:
        tensors = load_file(str(path), device=str(device))
        return Probe(tensors["weight"].float(), tensors["bias"].float(), int(metadata["layer"]),
                     tuple(metadata["classes"]))
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise BackendError(f"{path}: not a linear probe ({type(exc).__name__}: {exc})") from None
