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
        parser.add_argument("--sizes", action="store_true", help="(kept for old scripts: sizes are always shown)")


def run(args: argparse.Namespace) -> int:
    return _tasks(args) if args.command == "tasks" else _models()


def _tasks(args: argparse.Namespace) -> int:
    """Each built-in task: what it is, its labels (or metric) and its default split sizes."""
    rows = []
    for name, factory in TASKS.items():
        try:
            task = factory()
        except PromptliftError as exc:
            rows.append((name, f"unavailable: {exc}", "-", "-"))
            continue
        answers = ", ".join(task.choices) if task.choices else f"free text ({task.metric_name})"
        rows.append((name, task.description, answers, f"{len(task.train)}/{len(task.val)}/{len(task.test)}"))
    print(table(rows, ("task", "description", "labels", "train/val/test")))
    print("\nor a data file: --task data.jsonl (or .csv), one example per row; see 'promptlift optimize --help'")
    return 0


def _models() -> int:
    rows = [(engine, target.split(":")[0]) for engine, target in ENGINES.items()]
    print(table(rows, ("engine", "module")))
    print(f"\ndefault model: {DEFAULT_MODEL}; embedded models: {', '.join(EMBEDDED)}")
    print("model strings: llamacpp:smollm2, llamacpp:/path/model.gguf, torch:smollm2, torch:/path/hf_dir,")
    print("               openai:MODEL[@http://host:port/v1], litellm:PROVIDER/MODEL")
    return 0
