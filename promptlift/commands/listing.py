"""``promptlift tasks`` and ``promptlift models``."""

from __future__ import annotations

import argparse

from promptlift.backends.models import EMBEDDED
from promptlift.backends.registry import DEFAULT_MODEL, ENGINES
from promptlift.commands.common import table
from promptlift.errors import PromptliftError
from promptlift.tasks.builtin import TASKS


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    if name == "tasks":
        parser.add_argument("--sizes", action="store_true", help="load each task and show its split sizes")


def run(args: argparse.Namespace) -> int:
    return _tasks(args) if args.command == "tasks" else _models()


def _tasks(args: argparse.Namespace) -> int:
    rows = []
    for name, factory in TASKS.items():
        doc = (factory.__doc__ or "").strip().splitlines()
        about = doc[0] if doc else ""
        if args.sizes:
            try:
                task = factory()
                about = f"{task.description} ({len(task.train)}/{len(task.val)}/{len(task.test)})"
            except PromptliftError as exc:
                about = f"unavailable: {exc}"
        rows.append((name, about))
    print(table(rows, ("task", "description")))
    return 0


def _models() -> int:
    rows = [(engine, target.split(":")[0]) for engine, target in ENGINES.items()]
    print(table(rows, ("engine", "module")))
    print(f"\ndefault model: {DEFAULT_MODEL}; embedded models: {', '.join(EMBEDDED)}")
    print("model strings: llamacpp:smollm2, llamacpp:/path/model.gguf, torch:smollm2, torch:/path/hf_dir,")
    print("               openai:MODEL[@http://host:port/v1], litellm:PROVIDER/MODEL")
    return 0
