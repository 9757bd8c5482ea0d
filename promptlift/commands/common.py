"""Pieces shared by the subcommands: task and model arguments, tables."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from pathlib import Path
from typing import Any, Sequence

from promptlift.backends.registry import DEFAULT_MODEL, load_backend
from promptlift.errors import ConfigError
from promptlift.tasks import Task, get_task, load_task

DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")


def add_task_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("task")
    group.add_argument("--task", default="sentiment", help="a built-in task name or a .jsonl/.csv file (default: sentiment)")
    group.add_argument("--input-fields", help="comma-separated input fields of a data file (default: all but the output)")
    group.add_argument("--output-field", help="output field of a data file (default: output, answer or label)")
    group.add_argument("--metric", help="the task's metric: exact_match, accuracy, contains, word_f1, number, or over the "
                                        "whole split: macro_f1, balanced_accuracy (default: the task's own)")
    group.add_argument("--choices", help="comma-separated labels of a data file, or 'none' (default: inferred)")
    group.add_argument("--sizes", help="train,val,test example counts (default: 300,100,200 for a built-in task; "
                                       "60%%/20%%/20%% of a data file without a split column; optimize caps val "
                                       "at a quarter of --budget and says so)")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", default=DEFAULT_MODEL, help=f"ENGINE:MODEL (default: {DEFAULT_MODEL}); see 'promptlift models'")
    group.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                       help="a backend option, e.g. max_concurrency=4, deadline=30, api_base=URL (repeatable)")


def is_data_file(name: str) -> bool:
    """Whether ``--task`` names a data file rather than a built-in task."""
    return name.lower().endswith(DATA_SUFFIXES) or Path(name).is_file()


def task_from_args(args: argparse.Namespace) -> Task:
    if is_data_file(args.task):
        options: dict[str, Any] = {}
        if args.input_fields:
            options["input_fields"] = [f.strip() for f in args.input_fields.split(",")]
        if args.output_field:
            options["output_field"] = args.output_field
        if args.metric:
            options["metric"] = args.metric
        if args.choices is not None:
            options["choices"] = None if args.choices == "none" else parse_choices(args.choices)
        if args.sizes:
            options["sizes"] = parse_sizes(args.sizes)
        return load_task(args.task, **options)
    task = get_task(args.task, **({"sizes": parse_sizes(args.sizes)} if args.sizes else {}))
    return dataclasses.replace(task, metric=args.metric) if args.metric else task


def parse_choices(text: str) -> list[str]:
    """``--choices A,B``: two or more distinct, non-empty labels."""
    labels = [c.strip() for c in text.split(",")]
    if len(labels) < 2 or not all(labels) or len(set(labels)) != len(labels):
        raise ConfigError(f"--choices {text!r} must be two or more distinct, non-empty labels A,B,... (or 'none')")
    return labels


def parse_sizes(text: str) -> tuple[int, int, int]:
    """``--sizes TRAIN,VAL,TEST``: three whole numbers >= 0."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not all(re.fullmatch(r"[0-9]{1,9}", p) for p in parts):
        raise ConfigError(f"--sizes {text!r} must be three whole numbers TRAIN,VAL,TEST, e.g. 300,100,200")
    return int(parts[0]), int(parts[1]), int(parts[2])


def backend_from_args(args: argparse.Namespace, spec: str | None = None) -> Any:
    spec = spec or args.model
    options = key_values(getattr(args, "model_option", None) or [], "--model-option")
    try:
        return load_backend(spec, **options)
    except TypeError as exc:  # an option of the wrong type (a string for a number ...)
        raise ConfigError(f"{spec}: a --model-option has the wrong type ({exc})") from None


def key_values(pairs: Sequence[str], flag: str) -> dict[str, Any]:
    """NAME=VALUE pairs; values are parsed as JSON where they can be, else kept as text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{flag} {pair!r} must look like NAME=VALUE")
        try:
            out[name.strip()] = json.loads(value)
        except (ValueError, RecursionError):  # not JSON (or too deep or too long a number): kept as text
            out[name.strip()] = value
    return out


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain text table (no dependency)."""
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
