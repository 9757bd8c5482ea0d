"""One-time conversion of an embedded GGUF into a transformers model directory.

transformers can load a GGUF (``from_pretrained(dir, gguf_file=...)``, ~25 s: it dequantizes
every tensor) but refuses ``save_pretrained`` on the result. Copying the state dict into a
fresh ``AutoModelForCausalLM.from_config(config)`` (without ``quantization_config``) and
saving that works; reloads then take well under a second.

The directory is built under a temporary name and renamed into place in one step, so a
killed conversion never leaves a half-written model behind, and two processes converting at
once both end with one complete directory.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import time
from pathlib import Path

from promptlift.backends.models import default_models_dir, embedded_gguf
from promptlift.errors import MissingDependency

log = logging.getLogger(__name__)

LOCAL_INSTALL = 'pip install "promptlift[local]"  (torch==2.13.0 transformers gguf accelerate safetensors)'
COMPLETE_MARK = "promptlift-converted.json"


def require_packages(*names: str) -> None:
    """Raise MissingDependency naming the install command if a package is missing."""
    missing = [n for n in names if importlib.util.find_spec(n) is None]
    if missing:
        raise MissingDependency(f"the torch backend needs {', '.join(missing)}; run: {LOCAL_INSTALL}")


def converted_dir(name: str = "smollm2", cache_dir: Path | None = None) -> Path:
    """Where the converted copy of an embedded model lives (it may not exist yet)."""
    return (cache_dir / "models" if cache_dir else default_models_dir()) / name


def ensure_converted(name: str = "smollm2", cache_dir: Path | None = None) -> Path:
    """The transformers directory of an embedded model, converting it once if needed."""
    target = converted_dir(name, cache_dir)
    if (target / COMPLETE_MARK).is_file():
        return target
    gguf = embedded_gguf(name)
    require_packages("torch", "transformers", "gguf", "accelerate", "safetensors")
    log.info("converting %s for transformers into %s (once, ~30 s)", gguf.name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    try:
        _convert(gguf, tmp)
        _publish(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert(gguf: Path, out: Path) -> None:
    import json

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    out.mkdir(parents=True)
    fresh.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    mark = {"source": gguf.name, "seconds": round(time.perf_counter() - start, 1)}
    (out / COMPLETE_MARK).write_text(json.dumps(mark))
    log.info("converted %s in %.1f s", gguf.name, mark["seconds"])


def _publish(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target`` atomically; a stale incomplete target is replaced."""
    if target.exists() and not (target / COMPLETE_MARK).is_file():
        stale = target.parent / f".{target.name}.stale.{os.getpid()}"
        target.rename(stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        tmp.rename(target)
    except OSError:
        if not (target / COMPLETE_MARK).is_file():  # lost a race to a complete copy: fine
            raise
