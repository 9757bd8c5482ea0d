"""Loading llama.cpp models safely on CPUs with AMX.

On this project's 2026-12 machines (Intel Xeon with ``amx_int8``/``amx_tile``) llama-cpp-python
0.3.36, built natively, segfaults in the first ``llama_decode`` of the embedded SmolLM2 GGUF
(Q4_1): the weights are placed in llama.cpp's "extra" CPU buffer types (AMX / repacked
layouts). Loading with ``use_extra_bufts = False`` keeps them in plain CPU buffers, and
scoring and generation run (checked 2026-12-01: the crash on every decode, none without the
extra buffers). Machines without AMX keep llama.cpp's default, so figures measured on them are
unchanged. ``PROMPTLIFT_LLAMA_EXTRA_BUFFERS=1`` or ``=0`` overrides the detection.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator

_LOCK = threading.Lock()


def extra_buffers_allowed() -> bool:
    """False on a CPU with AMX (where they crash), unless ``PROMPTLIFT_LLAMA_EXTRA_BUFFERS`` says otherwise."""
    forced = os.environ.get("PROMPTLIFT_LLAMA_EXTRA_BUFFERS")
    if forced in ("0", "1"):
        return forced == "1"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "")
    except OSError:
        return True
    return "amx_int8" not in flags.split() and "amx_tile" not in flags.split()


@contextlib.contextmanager
def safe_model_params() -> Iterator[None]:
    """While a ``llama_cpp.Llama`` is constructed: no extra buffer types where they crash."""
    if extra_buffers_allowed():
        yield
        return
    import llama_cpp.llama as module

    with _LOCK:
        original = module.llama_cpp.llama_model_default_params

        def params():  # noqa: ANN202 - a ctypes struct
            value = original()
            value.use_extra_bufts = False
            return value

        module.llama_cpp.llama_model_default_params = params
        try:
            yield
        finally:
            module.llama_cpp.llama_model_default_params = original


def serve() -> None:
    """``python -m promptlift.backends.llamacpp_cpu ARGS``: llama-cpp-python's OpenAI-compatible server
    (same arguments as ``python -m llama_cpp.server``), with the model loaded as above."""
    import runpy

    with safe_model_params():
        runpy.run_module("llama_cpp.server", run_name="__main__")


if __name__ == "__main__":
    serve()
