"""Soft prompts: the safetensors file format and applying them to a torch model (what the torch backend
needs; training them is :mod:`promptlift.training`).

Heavy imports (torch, safetensors) happen inside the functions, never at package import.
"""

from promptlift.softprompt.io import (
    KINDS,
    check_model,
    check_shape,
    content_hash,
    load_soft_prompt,
    save_content_addressed,
    save_soft_prompt,
)

__all__ = [
    "KINDS",
    "check_model",
    "check_shape",
    "content_hash",
    "load_soft_prompt",
    "save_content_addressed",
    "save_soft_prompt",
]
