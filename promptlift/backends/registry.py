"""Model strings for the string boundary (CLI, YAML): ``engine:model``.

    llamacpp:smollm2            the embedded default model, llama.cpp in process
    llamacpp:/path/model.gguf   any GGUF file
    torch:smollm2               the embedded model converted once for transformers/torch
    torch:/path/to/hf_dir       a transformers model directory
    openai:MODEL[@BASE_URL]     any OpenAI-compatible server
    litellm:PROVIDER/MODEL      any litellm provider

Engines are imported lazily, so a missing optional package only matters when it is used.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Mapping

from promptlift.errors import ConfigError

DEFAULT_MODEL = "llamacpp:smollm2"

ENGINES: dict[str, str] = {
    "llamacpp": "promptlift.backends.llamacpp:LlamaCppBackend",
    "torch": "promptlift.backends.torch:TorchBackend",
    "openai": "promptlift.backends.openai:OpenAIBackend",
    "litellm": "promptlift.backends.litellm:LiteLLMBackend",
}


def load_backend(spec: str, **options: Any) -> Any:
    """A backend from a model string; ``options`` go to the backend's ``from_spec``."""
    engine, sep, model = spec.partition(":")
    if not sep or not model:
        raise ConfigError(f"Model string {spec!r} must look like ENGINE:MODEL, e.g. {DEFAULT_MODEL!r}.")
    if engine not in ENGINES:
        raise ConfigError(f"Unknown engine {engine!r} in {spec!r}. Engines: {', '.join(ENGINES)}.")
    module_name, _, class_name = ENGINES[engine].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    _check_options(cls, spec, options)
    return cls.from_spec(model, **options)


def _check_options(cls: type, spec: str, options: Mapping[str, Any]) -> None:
    """Options the backend does not take, named with those it does (API backends check their own)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[2:]  # type: ignore[misc]  # after self and the model
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    settable = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    known = [p.name for p in params if p.kind in settable and p.name != "name"]  # name: set from the model string
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"{spec}: unknown option(s) {', '.join(unknown)}; {cls.__name__} takes {', '.join(known)}.")
