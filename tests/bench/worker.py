"""``python -m tests.bench.worker ARGS``: ``promptlift bench ARGS`` with the test-only engine registered."""

import sys

from tests.bench.engine import register

if __name__ == "__main__":
    register()
    from promptlift.cli import main

    sys.exit(main(["bench", *sys.argv[1:]]))
