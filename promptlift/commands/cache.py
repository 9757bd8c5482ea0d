"""``promptlift cache stats | clear``."""

from __future__ import annotations

import argparse

from promptlift.cache import ResponseCache
from promptlift.commands.common import table


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("action", choices=("stats", "clear"), help="stats: entries per model; clear: delete entries")
    parser.add_argument("--model", help="with clear: only this backend id")


def run(args: argparse.Namespace) -> int:
    cache = ResponseCache.default()
    if args.action == "clear":
        print(f"deleted {cache.clear(args.model)} entries from {cache.path}")
        return 0
    stats = cache.stats()
    print(table(sorted(stats.items()), ("backend", "entries")) if stats else "the cache is empty")
    print(f"\n{cache.path}: {sum(stats.values())} entries")
    return 0
