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
from typing import NoReturn, Sequence

from promptlift import redaction, stopping
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


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage itself is in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = Parser(
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
    """Run one command. As the console script (``argv`` None) an interrupted run exits at once,
    even while worker threads still wait on a hung request."""
    console = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if a in COMMANDS), None)
    args = build_parser(only=command).parse_args(argv)
    if not getattr(args, "module", None):
        build_parser(only="").print_help()
        return 2
    with stopping.signals_stop(f"promptlift {args.command}", hard_exit=console):
        code = dispatch(args)
    if console and code == stopping.INTERRUPTED:
        stopping.exit_now(code)  # worker threads on a hung call would hold the interpreter until its deadline
    return code


def optimize_main(argv: Sequence[str] | None = None) -> int:
    """The ``optimize`` console script: the same as ``promptlift optimize``."""
    if argv is None:
        sys.argv[1:1] = ["optimize"]
        return main()
    return main(["optimize", *argv])


def dispatch(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    redaction.install()
    try:
        return importlib.import_module(args.module).run(args)
    except PromptliftError as exc:
        return _fail(args, exc)
    except (OSError, UnicodeError, RecursionError) as exc:  # a path, a file or its bytes: the user's input
        return _fail(args, _describe(exc))
    except KeyboardInterrupt:
        print(f"promptlift {args.command}: interrupted", file=sys.stderr)
        return stopping.INTERRUPTED


def _fail(args: argparse.Namespace, error: object) -> int:
    text = " ".join(redaction.redact(str(error)).split())
    print(f"promptlift {args.command}: error: {text}", file=sys.stderr)
    return 2


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        name = str(exc.filename or "")
        where = f"{name if len(name) <= 120 else name[:60] + '...' + name[-40:]}: " if name else ""
        return f"{where}{exc.strerror}"
    if isinstance(exc, RecursionError):
        return "input nested too deeply"
    return f"{type(exc).__name__}: {exc}"


if __name__ == "__main__":
    sys.exit(main())
