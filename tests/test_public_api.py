"""The public API: `__all__` lists what `import promptlift` offers, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import promptlift


def test_all_names_exist_and_every_public_class_is_listed():
    assert all(hasattr(promptlift, name) for name in promptlift.__all__)
    exported = {name for name, value in vars(promptlift).items() if not name.startswith("_") and isinstance(value, type)}
    assert exported <= set(promptlift.__all__), sorted(exported - set(promptlift.__all__))


def test_import_pulls_in_nothing_heavy():
    heavy = ["torch", "transformers", "llama_cpp", "dspy", "litellm", "openai", "peft", "sklearn", "optuna", "pandas",
             "matplotlib", "pytest"]
    code = f"import sys, promptlift; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
