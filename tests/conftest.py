"""Suite-wide fixtures: every test gets its own response cache, never the user's."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_response_cache(tmp_path_factory, monkeypatch):
    if "PROMPTLIFT_CACHE_KEEP" not in __import__("os").environ:
        monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path_factory.mktemp("cache")))
