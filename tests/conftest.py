"""Suite-wide fixtures: every test gets its own response cache, never the user's."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _private_response_cache(tmp_path_factory, monkeypatch):
    if "PROMPTLIFT_CACHE_KEEP" not in os.environ:
        monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With PROMPTLIFT_REQUIRE_REAL=1 (``make test`` sets it) a skipped integration test fails:
    a missing model or package must not turn the real-model tests into a green run that ran
    nothing real. Only the lack of a GPU may skip one."""
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and item.get_closest_marker("integration")
            and os.environ.get("PROMPTLIFT_REQUIRE_REAL") == "1"):
        return
    reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if "CUDA" not in reason:
        report.outcome = "failed"
        report.longrepr = f"integration test skipped although PROMPTLIFT_REQUIRE_REAL=1: {reason}"
