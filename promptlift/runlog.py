"""The run directory: config.json, trials.jsonl (append-only, flushed), result.json,
best_candidate.json and plots. Everything is JSON; nothing secret is ever written."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import IO, Any

from promptlift import safefile
from promptlift.result import Result, Trial
from promptlift.tasks.base import Task
from promptlift.tasks.render import as_text
from promptlift.types import Example

log = logging.getLogger(__name__)


class RunLog:
    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        self._trials: IO[str] | None = None

    def start(self, config: dict[str, Any]) -> None:
        """Write config.json and start a fresh trials.jsonl (a resumed run replays into it)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(self.dir / "config.json", config)
        self._trials = safefile.open_fresh(self.dir / "trials.jsonl")

    def append(self, trial: Trial) -> None:
        assert self._trials is not None
        self._trials.write(json.dumps(trial.to_dict(), ensure_ascii=False) + "\n")
        self._trials.flush()

    def finish(self, result: Result, task: Task, *, plot: bool = True) -> None:
        """Write the result and the best candidate; ``plot=False`` skips score.png (importing
        matplotlib took 0.4-0.75 s of a ~1 s stop after Ctrl-C on a loaded 2-core machine)."""
        write_json(self.dir / "result.json", result.to_dict())
        write_json(self.dir / "best_candidate.json", exported_candidate(result, task))
        try:
            if plot:
                result.plot(self.dir / "score.png", x="metric_calls")
            if plot and len(result.objectives) > 1:  # score against prompt length, the front highlighted
                result.plot(self.dir / "front.png", x="prompt_tokens")
        except Exception as exc:  # a plot is a convenience: never lose a run over it
            log.warning("could not draw %s: %s", self.dir / "score.png", exc)
        if self._trials is not None:
            self._trials.close()
            self._trials = None


def exported_candidate(result: Result, task: Task) -> dict[str, Any]:
    """The best candidate plus its fully rendered prompt, with ``{field}`` placeholders."""
    candidate = result.best_candidate
    placeholder = Example({name: "{" + name + "}" for name in task.input_fields}, "", id="template")
    request = task.render(candidate, placeholder)
    return {
        "candidate": candidate.to_dict(),
        "task": task.name,
        "choices": list(task.choices),
        "request": request.to_dict(),
        "prompt_text": as_text(request),
        "val": result.best.mean,
        "test": result.best_test,
        "per_query": dict(result.best.per_query),
    }


def write_json(path: Path, data: Any) -> None:
    """Write atomically and never through a link: a crash never leaves a half-written file behind."""
    safefile.write_text(path, json.dumps(data, indent=1, ensure_ascii=False))
