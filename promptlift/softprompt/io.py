"""The soft-prompt file format: safetensors tensors plus string metadata.

Two kinds, told apart by ``metadata["kind"]``:

``prompt``  tensor ``embeddings`` [n_tokens, hidden]: virtual-token embeddings inserted through
            ``inputs_embeds`` before the rendered prompt's tokens (after BOS when the
            tokenizer adds one).
``prefix``  tensor ``prefix`` [layers, 2, n_kv_heads, n_tokens, head_dim]: per-layer key (index 0)
            and value (index 1) states used as ``past_key_values`` (the soft prefix of the KV cache).

Metadata (all strings, as safetensors requires): ``kind``, ``model_id`` (the backend id the
tensors were trained on), ``n_tokens``, ``init``, ``hidden``, ``layers``, plus optional extras.
Loading onto a different model raises :class:`ConfigError`. Files written with
:func:`save_content_addressed` are named by a hash of their content, so a changed tensor is a
new path and never replays a stale response-cache entry.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from promptlift import safefile
from promptlift.errors import ConfigError, DataError, MissingDependency

if TYPE_CHECKING:
    import torch

KINDS = ("prompt", "prefix")
TENSOR_NAME = {"prompt": "embeddings", "prefix": "prefix"}
TENSOR_RANK = {"prompt": 2, "prefix": 5}
REQUIRED = ("kind", "model_id", "n_tokens", "init", "hidden", "layers")


def _safetensors() -> Any:
    try:
        import safetensors.torch
    except ImportError as exc:  # pragma: no cover - safetensors ships with transformers
        raise MissingDependency("soft prompts need 'safetensors'; run: pip install safetensors") from exc
    return safetensors.torch


def _check(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str], where: str) -> None:
    missing = [k for k in REQUIRED if k not in metadata]
    if missing:
        raise DataError(f"{where}: soft-prompt metadata lacks {', '.join(missing)}")
    kind = metadata["kind"]
    if kind not in KINDS:
        raise DataError(f"{where}: soft-prompt kind must be one of {KINDS}. Got {kind!r}.")
    name = TENSOR_NAME[kind]
    if name not in tensors:
        raise DataError(f"{where}: a {kind!r} soft prompt needs the tensor {name!r}; found {sorted(tensors)}")
    tensor = tensors[name]
    if tensor.dim() != TENSOR_RANK[kind]:
        raise DataError(f"{where}: tensor {name!r} must have {TENSOR_RANK[kind]} dims. Got shape {tuple(tensor.shape)}.")
    n_tokens = tensor.shape[0] if kind == "prompt" else tensor.shape[3]
    if str(n_tokens) != str(metadata["n_tokens"]):
        raise DataError(f"{where}: metadata n_tokens={metadata['n_tokens']} but tensor {name!r} has {n_tokens} tokens")


def _as_strings(metadata: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}


def save_soft_prompt(path: str | Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]) -> Path:
    """Write ``tensors`` (detached, contiguous, on CPU) and ``metadata`` (values made strings) to ``path``."""
    path = Path(path)
    meta = _as_strings(metadata)
    plain = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    _check(plain, meta, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    safefile.save_with(path, lambda tmp: _safetensors().save_file(plain, tmp, metadata=meta))
    return path


def content_hash(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any], length: int = 16) -> str:
    """sha256 over the metadata and every tensor's name, dtype, shape and bytes."""
    digest = hashlib.sha256(json.dumps(_as_strings(metadata), sort_keys=True).encode())
    for name in sorted(tensors):
        tensor = tensors[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(-1).view(_byte_dtype()).numpy().tobytes())
    return digest.hexdigest()[:length]


def _byte_dtype() -> Any:
    import torch

    return torch.uint8


def save_content_addressed(
    directory: str | Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any], *, stem: str = "soft_prompt"
) -> Path:
    """Save under ``directory/<stem>-<content hash>.safetensors`` (reused if it exists) and return the path."""
    path = Path(directory) / f"{stem}-{content_hash(tensors, metadata)}.safetensors"
    if not path.is_file():
        save_soft_prompt(path, tensors, metadata)
    return path


def load_soft_prompt(path: str | Path, *, model_id: str | None = None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a soft-prompt file: ``(tensors, metadata)``; with ``model_id``, refuse another model's file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no soft-prompt file at {path}")
    st = _safetensors()
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
        tensors = st.load_file(str(path))
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        raise DataError(f"{path}: not a readable safetensors soft prompt: {exc}") from exc
    _check(tensors, metadata, str(path))
    if model_id is not None:
        check_model(metadata, model_id, path)
    return tensors, metadata


def check_model(metadata: Mapping[str, str], model_id: str, path: str | Path = "soft prompt") -> None:
    """Raise ConfigError unless the soft prompt was trained on ``model_id``."""
    trained = metadata.get("model_id")
    if trained != model_id:
        raise ConfigError(
            f"{path}: this soft prompt was trained on {trained!r} and cannot be loaded onto {model_id!r}; "
            "soft prompts only work on the exact model (same weights) they were trained on"
        )


def check_shape(metadata: Mapping[str, str], tensors: Mapping[str, torch.Tensor], *, hidden: int, layers: int,
                n_kv_heads: int, head_dim: int, path: str | Path = "soft prompt") -> None:
    """Raise ConfigError if the tensor dimensions do not fit a model of the given sizes."""
    kind = metadata["kind"]
    shape = tuple(tensors[TENSOR_NAME[kind]].shape)
    ok = shape[1:] == (hidden,) if kind == "prompt" else (shape[:3], shape[4]) == ((layers, 2, n_kv_heads), head_dim)
    if not ok:
        want = f"[n, {hidden}]" if kind == "prompt" else f"[{layers}, 2, {n_kv_heads}, n, {head_dim}]"
        raise ConfigError(f"{path}: {kind} tensor of shape {list(shape)} does not fit this model (needs {want})")
