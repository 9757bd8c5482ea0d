"""The CLI as a real process, against the loopback FaultServer (for signal, kill and log tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]


def reviews(path: Path, n: int = 60) -> Path:
    rows = [{"review": f"a {'good' if i % 2 else 'bad'} film {i}", "label": "positive" if i % 2 else "negative"}
            for i in range(n)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def spawn(args: list[str], *, env: dict[str, str], verbose: int = 0) -> subprocess.Popen:
    """``promptlift ARGS`` as the console script would run it (``main()`` without argv)."""
    command = [sys.executable, "-m", "promptlift.cli", *(["-" + "v" * verbose] if verbose else []), *args]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "PROMPTLIFT_THREADS": "1", **env}
    full_env.pop("OPENAI_BASE_URL", None)
    return subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def optimize_args(data: Path, url: str, run_dir: Path, *extra: str) -> list[str]:
    return ["optimize", "--task", str(data), "--model", f"openai:smollm2@{url}", "--no-progress",
            "--run-dir", str(run_dir), "--model-option", "backoff=0.01", *extra]
