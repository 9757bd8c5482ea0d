"""The command line: ``promptlift optimize | evaluate | tasks | models | cache | bench | ladder``.

Each subcommand lives in its own module under ``promptlift.commands`` and is imported only
when used, so ``promptlift --help`` is instant. ``optimize`` is also installed as its own
console script.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from promptlift.errors import PromptliftError

# name -> (module, one-line help); each module has add_arguments(parser) and run(args) -> int
COMMANDS: dict[str, tuple[str, str]] = {
    "optimize": ("promptlift.commands.optimize", "search for the best prompt of a task on a model"),
    "evaluate": ("promptlift.commands.evaluate", "score a candidate (best_candidate.json or the seed) on a split"),
    "tasks": ("promptlift.commands.listing", "list the built-in tasks"),
    "models": ("promptlift.commands.listing", "list model engines and the default model"),
    "cache": ("promptlift.commands.cache", "inspect or clear the response cache"),
    "bench": ("promptlift.commands.bench", "run a benchmark sweep from a YAML config"),
    "ladder": ("promptlift.commands.ladder", "measure prompting against training (every rung, several data sizes)"),
    "compare": ("promptlift.commands.compare", "compare finished run directories side by side (--html for a page)"),
}

EPILOG = """examples:
  promptlift optimize --task sentiment
  promptlift optimize --task data.jsonl --model openai:gpt-4.1-mini --budget 200 --run-dir runs/x
  promptlift optimize --resume runs/x
  promptlift evaluate --task sentiment --candidate runs/x/best_candidate.json --split test
  promptlift compare runs/x runs/y --html compare.html
"""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="promptlift", description="Automated prompt optimisation on any model.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        child = sub.add_parser(name, help=help_text, description=help_text)
        child.set_defaults(module=module, command=name)
        if only is None or only == name:
            importlib.import_module(module).add_arguments(child, name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if a in COMMANDS), None)
    args = build_parser(only=command).parse_args(argv)
    if not getattr(args, "module", None):
        build_parser(only="").print_help()
        return 2
    return dispatch(args)


def optimize_main(argv: Sequence[str] | None = None) -> int:
    """The ``optimize`` console script: the same as ``promptlift optimize``."""
    return main(["optimize", *(sys.argv[1:] if argv is None else argv)])


def dispatch(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return importlib.import_module(args.module).run(args)
    except PromptliftError as exc:
        print(f"promptlift {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"promptlift {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
