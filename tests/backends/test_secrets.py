"""The secrets canary: an API key set to a unique value must appear nowhere promptlift can reach.

Success and failure paths run with DEBUG logging on promptlift, litellm, openai, httpx and
httpcore; then every log record, stdout/stderr, every file of the run directory and the cache,
every error message and traceback and the backend's repr are searched for the canary (and
for a middle slice of it, to catch partial masking).
"""

from __future__ import annotations

import logging
import traceback
import uuid
from pathlib import Path

import pytest

from promptlift import Budget, FewShot
from promptlift.cache import CachedBackend, ResponseCache
from promptlift.errors import BackendError
from promptlift.types import Message, Request
from tests.backends.conftest import make_backend
from promptlift.testing.doubles import toy_task

LOGGERS = ("", "promptlift", "LiteLLM", "litellm", "LiteLLM Router", "openai", "httpx", "httpcore")
FAILURES = ("401", "leak401", "403", "500", "429", "badjson", "nochoices", "reset", "hang")


def occurrences(text: str, canary: str) -> int:
    middle = canary[10:26]
    return text.count(canary) + text.count(middle)


def files_text(root: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in sorted(root.rglob("*")) if p.is_file())


@pytest.mark.parametrize("key_source", ["argument", "environment"])
def test_the_api_key_appears_nowhere(engine, key_source, faults, tmp_path, caplog, capfd, monkeypatch):
    canary = f"sk-canary-{uuid.uuid4().hex}"
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    if key_source == "environment":
        monkeypatch.setenv("OPENAI_API_KEY", canary)
        backend = make_backend(engine, faults.url, api_key=None, max_retries=1, deadline=20.0)
    else:
        backend = make_backend(engine, faults.url, api_key=canary, max_retries=1, deadline=20.0)
    cache = ResponseCache(tmp_path / "cache" / "responses.sqlite")
    run_dir = tmp_path / "run"

    result = FewShot(k=2, max_candidates=2).optimize(
        toy_task(16), backend, budget=Budget(metric_calls=12), run_dir=run_dir, cache=cache
    )
    assert result.trials and (run_dir / "result.json").is_file()
    assert any(canary in str(h.get("authorization", h.get("Authorization", ""))) for h in faults.headers)

    errors = []
    for fault in FAILURES:
        faults.plan(fault, then=fault)
        short = make_backend(engine, faults.url, api_key=None if key_source == "environment" else canary,
                             max_retries=1, deadline=0.5 if fault == "hang" else 20.0)
        with pytest.raises(BackendError) as info:
            CachedBackend(short, cache).complete([Request(messages=(Message("user", f"x {fault}"),))])
        logging.getLogger("promptlift.test").exception("expected failure %s", fault, exc_info=info.value)
        errors.append(str(info.value) + repr(info.value) + "".join(traceback.format_exception(info.value)))

    captured = capfd.readouterr()
    records = "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )
    places = {
        "log records": records + caplog.text,
        "stdout": captured.out,
        "stderr": captured.err,
        "run directory": files_text(run_dir),
        "cache directory": files_text(tmp_path / "cache"),
        "errors": "\n".join(errors),
        "repr": repr(backend) + str(vars(backend)),
    }
    assert len(caplog.records) > 20  # debug logging really was on
    assert {where: occurrences(text, canary) for where, text in places.items()} == dict.fromkeys(places, 0)
