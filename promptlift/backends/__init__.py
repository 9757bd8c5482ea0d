"""Backends: the Backend protocol, the engines, and model strings."""

from promptlift.backends.base import Backend, Capabilities, require
from promptlift.backends.litellm import LiteLLMBackend
from promptlift.backends.openai import OpenAIBackend
from promptlift.backends.registry import DEFAULT_MODEL, ENGINES, load_backend
from promptlift.backends.scripted import ScriptedBackend
from promptlift.backends.torch import TorchBackend

__all__ = ["DEFAULT_MODEL", "ENGINES", "Backend", "Capabilities", "LiteLLMBackend", "OpenAIBackend", "ScriptedBackend",
           "TorchBackend", "load_backend", "require"]
