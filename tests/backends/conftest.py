"""Fixtures for the API backend tests: loopback servers and backends pointed at them."""

from __future__ import annotations

import importlib.util

import pytest

from promptlift.backends.litellm import LiteLLMBackend
from promptlift.backends.openai import OpenAIBackend
from tests.backends.servers import FaultServer, LlamaServer

FAST = {"backoff": 0.005, "backoff_max": 0.02, "deadline": 20.0}
ENGINES = ("openai", "litellm")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def fault_server():
    server = FaultServer().start()
    yield server
    server.stop()


@pytest.fixture
def faults(fault_server):
    """The session's fault server with a fresh plan (``ok``) and a zeroed hit count."""
    fault_server.retry_after = 0.05
    return fault_server.plan()


def make_backend(engine: str, url: str, **options):
    """An API backend of ``engine`` at ``url`` with short backoffs (tests stay fast)."""
    options = {**FAST, **options}
    if engine == "openai":
        return OpenAIBackend("smollm2", base_url=url, **{"api_key": "sk-test", **options})
    return LiteLLMBackend("openai/smollm2", api_base=url, **{"api_key": "sk-test", "raw_prompt": True, **options})


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """The real llama-cpp-python OpenAI-compatible server with the embedded SmolLM2 GGUF."""
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("uvicorn") is None:
        pytest.skip("llama-cpp-python[server] is not installed")
    from promptlift.backends.models import embedded_gguf

    try:
        model = embedded_gguf()
    except Exception as exc:  # noqa: BLE001 - a missing model file skips, it does not fail
        pytest.skip(str(exc))
    server = LlamaServer(model, log_path=tmp_path_factory.mktemp("llama") / "server.log").wait_ready()
    yield server
    server.stop()
