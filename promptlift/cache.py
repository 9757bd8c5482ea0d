"""The persistent response cache: SQLite in WAL mode, shared by all backends and runs.

Keys are the backend id plus the canonical request, so a cached answer is only ever replayed
for the same model and the same prompt. Safe across threads (one lock per cache object) and
processes (SQLite's own locking with a busy timeout). Only well-formed completions are
stored: a backend raises on a malformed answer before anything reaches the cache.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Sequence

from promptlift.backends.base import Backend, streams
from promptlift.errors import CacheError
from promptlift.types import Completion, Request, Usage, canonical_json, digest

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    completion TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def default_cache_dir() -> Path:
    """``$PROMPTLIFT_CACHE`` or ``~/.cache/promptlift``."""
    return Path(os.environ.get("PROMPTLIFT_CACHE", Path.home() / ".cache" / "promptlift"))


def request_key(backend_id: str, request: Request) -> str:
    return digest([backend_id, request.to_dict()], 32)


class ResponseCache:
    """A key-value store of completions. ``ResponseCache.default()`` lives in the cache dir."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            self._db.commit()
        except sqlite3.DatabaseError as exc:
            raise CacheError(f"{self.path}: cannot open the response cache: {exc}") from exc

    @classmethod
    def default(cls) -> ResponseCache:
        return cls(default_cache_dir() / "responses.sqlite")

    def get_many(self, backend_id: str, requests: Sequence[Request]) -> list[Completion | None]:
        keys = [request_key(backend_id, r) for r in requests]
        found: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, completion FROM responses WHERE key IN ({marks})", chunk
                ).fetchall()
                found.update(rows)
        return [_decode(found[k]) if k in found else None for k in keys]

    def put_many(
        self, backend_id: str, requests: Sequence[Request], completions: Sequence[Completion]
    ) -> None:
        now = time.time()
        rows = [
            (request_key(backend_id, r), backend_id, canonical_json(c.to_dict()), now)
            for r, c in zip(requests, completions, strict=True)
        ]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", rows)
            self._db.commit()

    def recent_usage(self, backend_id: str, limit: int) -> list[Usage]:
        """The usage (tokens, seconds) stored with the ``limit`` most recent answers of a backend:
        its measured throughput, which a plan reads before any model call."""
        with self._lock:
            rows = self._db.execute("SELECT completion FROM responses WHERE backend = ? ORDER BY created DESC LIMIT ?",
                                    (backend_id, limit)).fetchall()
        found = []
        for (text,) in rows:
            try:
                usage = Usage.from_dict(json.loads(text).get("usage") or {})
            except (ValueError, TypeError, AttributeError):
                continue
            if usage.seconds > 0:
                found.append(usage)
        return found

    def stats(self) -> dict[str, int]:
        """Entries per backend id."""
        with self._lock:
            rows = self._db.execute(
                "SELECT backend, COUNT(*) FROM responses GROUP BY backend ORDER BY backend"
            ).fetchall()
        return dict(rows)

    def clear(self, backend_id: str | None = None) -> int:
        """Delete all entries (or one backend's); returns how many were deleted."""
        with self._lock:
            if backend_id is None:
                cursor = self._db.execute("DELETE FROM responses")
            else:
                cursor = self._db.execute("DELETE FROM responses WHERE backend = ?", (backend_id,))
            self._db.commit()
        return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _decode(text: str) -> Completion:
    return Completion.from_dict(json.loads(text), cached=True)


class CachedBackend:
    """Wraps a backend so that repeated requests are answered from a ResponseCache.

    Misses go to the backend in chunks of ``chunk`` requests, each stored as soon as it is
    answered, so an interrupted batch keeps what was already computed. A backend with
    ``streams_completions`` (the API backends) hands over every completion as it arrives, and
    each is stored at once: a kill then loses only the requests in flight (before this, a kill
    during a chunk of an API run lost the 15-30 answers already received).
    """

    def __init__(self, backend: Backend, cache: ResponseCache, *, chunk: int = 64) -> None:
        self.inner = backend  # what it wraps: ``unwrap`` gives it back
        self.cache = cache
        self.chunk = chunk
        self.id = backend.id
        self.capabilities = backend.capabilities

    def _store_nth(self, asked: Sequence[Request], n: int, completion: Completion) -> None:
        self.cache.put_many(self.id, [asked[n]], [completion])

    def complete(self, requests: Sequence[Request]) -> list[Completion]:
        answers = self.cache.get_many(self.id, requests)
        missing = [i for i, a in enumerate(answers) if a is None]
        for start in range(0, len(missing), self.chunk):
            part = missing[start : start + self.chunk]
            asked = [requests[i] for i in part]
            if streams(self.inner):
                fresh = self.inner.complete(asked, on_completion=functools.partial(self._store_nth, asked))
            else:
                fresh = self.inner.complete(asked)
                self.cache.put_many(self.id, asked, fresh)
            for i, completion in zip(part, fresh, strict=True):
                answers[i] = completion
        log.debug("%s: %d requests, %d from cache", self.id, len(requests), len(requests) - len(missing))
        return answers  # type: ignore[return-value]


def unwrap(backend: Backend) -> Backend:
    """The backend itself, without a response cache around it (what trainers and tokenizers read)."""
    return backend.inner if isinstance(backend, CachedBackend) else backend
