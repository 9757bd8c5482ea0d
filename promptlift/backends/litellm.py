"""LiteLLMBackend: every litellm provider (OpenAI, Anthropic, Gemini, Bedrock, vLLM, Ollama ...).

Model strings::

    litellm:anthropic/claude-haiku-4-5     key from ANTHROPIC_API_KEY
    litellm:openai/smollm2                          with api_base="http://127.0.0.1:8000/v1"

litellm is imported lazily (it costs ~3 s) and only after ``LITELLM_LOCAL_MODEL_COST_MAP=True``
is set, so it uses its bundled price map instead of fetching one from the internet. Its own
retries are off (``num_retries=0``, ``max_retries=0``): promptlift's retry loop is the only
one. No litellm global setting is changed.

Choice scoring defaults to ``auto``: top logprobs when litellm says the provider supports
``top_logprobs``, else generate-and-match (Anthropic, for example). litellm maps a connection
reset and a bad JSON body to a "500"; the exception chain is inspected so that the first is
retried as a connection error and the second fails at once as a ``MalformedResponse``.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import threading
from typing import Any

from promptlift.backends.api import APIBackend, APIOptions, Secret, redact
from promptlift.backends.openai import public_url
from promptlift.errors import BackendError, ConfigError, MalformedResponse, MissingDependency

log = logging.getLogger(__name__)

_IMPORT_LOCK = threading.Lock()
# Modules litellm imports on its first call and on its first error (~3-6 s on a loaded
# machine); importing them in ``_prepare`` keeps that time off the first call's deadline.
# A missing one only costs time, never correctness.
_LAZY_MODULES = (
    "openai.resources.chat", "openai.resources.completions", "litellm.proxy._types",
    "litellm.integrations.custom_guardrail", "fastapi",  # litellm's error path imports fastapi if present
)
_warm = False


def import_litellm() -> Any:
    """``litellm``, imported with its bundled (offline) price map."""
    with _IMPORT_LOCK:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        try:
            import litellm
        except ImportError as exc:
            raise MissingDependency("the litellm backend needs the 'litellm' package: pip install litellm") from exc
        return litellm


class LiteLLMBackend(APIBackend):
    """A model behind litellm: ``model`` is ``provider/name``.

    ``api_key`` defaults to the provider's usual variable (litellm reads it, e.g.
    ``ANTHROPIC_API_KEY``); ``api_base`` points at a self-hosted server. Other options: ``APIOptions``.
    """

    engine = "litellm"

    def __init__(self, model: str, *, api_base: str | None = None, api_key: str | None = None, **options: Any) -> None:
        provider, sep, name = model.partition("/")
        if not sep or not provider or not name:
            raise ConfigError(f"litellm model {model!r} must look like PROVIDER/MODEL, e.g. 'anthropic/claude-haiku-4-5'.")
        self.provider = provider
        self.api_base = api_base
        self._key = Secret(api_key)
        env_key = Secret(os.environ.get(f"{provider.upper()}_API_KEY"))
        self.id = f"litellm:{model}" + (f"@{public_url(api_base)}" if api_base else "")
        super().__init__(model, APIOptions.parse(options, "LiteLLMBackend"), secrets=(self._key, env_key), provider=provider)

    @classmethod
    def from_spec(cls, model: str, **options: Any) -> LiteLLMBackend:
        """From the part of a model string after ``litellm:`` (``PROVIDER/MODEL``)."""
        if "base_url" in options and "api_base" not in options:
            options["api_base"] = options.pop("base_url")
        return cls(model, **options)

    def _auto_mode(self) -> str:
        litellm = import_litellm()
        _, _, name = self.model.partition("/")
        try:
            params = litellm.get_supported_openai_params(model=name, custom_llm_provider=self.provider) or []
        except Exception as exc:  # an unknown provider: generation works everywhere
            log.debug("%s: cannot tell whether logprobs are supported (%s)", self.id, type(exc).__name__)
            params = []
        return "logprobs" if "top_logprobs" in params else "generate"

    def _prepare(self) -> None:
        global _warm
        import_litellm()
        with _IMPORT_LOCK:
            if not _warm:
                for name in _LAZY_MODULES:
                    try:
                        importlib.import_module(name)
                    except Exception as exc:  # noqa: BLE001 - a warm-up only
                        log.debug("warm-up import of %s failed: %s", name, type(exc).__name__)
                _warm = True

    def _send(self, endpoint: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        litellm = import_litellm()
        call = litellm.completion if endpoint == "chat" else litellm.text_completion
        extra: dict[str, Any] = {"api_base": self.api_base} if self.api_base else {}
        if self._key:
            extra["api_key"] = self._key.reveal()
        try:
            response = call(model=self.model, timeout=timeout, num_retries=0, max_retries=0, **extra, **body)
        except Exception as exc:  # litellm raises many types; classify them all
            raise self._classify(exc, timeout) from None
        try:
            return json.loads(response.model_dump_json())
        except (AttributeError, ValueError) as exc:
            raise MalformedResponse(f"litellm returned an unusable response ({type(exc).__name__})", backend=self.id) from None

    def _classify(self, exc: Exception, timeout: float) -> BackendError:
        chain = _chain(exc)
        names = {type(e).__name__ for e in chain}
        if any(isinstance(e, json.JSONDecodeError) for e in chain):
            return MalformedResponse("response is not valid JSON", backend=self.id)
        if names & {"Timeout", "APITimeoutError", "TimeoutException", "ReadTimeout", "ConnectTimeout", "TimeoutError"}:
            return self.connection_error("timeout", f"no answer within {timeout:.3g} s")
        transport = {"APIConnectionError", "ConnectError", "ReadError", "WriteError", "RemoteProtocolError"}
        if names & transport or any(isinstance(e, ConnectionError) for e in chain):
            return self.connection_error("connection error", next((n for n in sorted(names & transport)), ""))
        status = getattr(exc, "status_code", None)
        if isinstance(status, int):
            return self.status_error(status, f"{type(exc).__name__}: {exc}", _headers(exc))
        return BackendError(redact(f"{type(exc).__name__}: {exc}", self._secrets)[:300], backend=self.id)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 12:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _headers(exc: Exception) -> dict[str, str] | None:
    for headers in (getattr(exc, "litellm_response_headers", None), getattr(getattr(exc, "response", None), "headers", None)):
        if headers:
            return dict(headers)
    return None
