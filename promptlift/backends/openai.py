"""OpenAIBackend: any OpenAI-compatible server through the official ``openai`` SDK.

Model strings::

    openai:gpt-4.1-mini                         api.openai.com, key from OPENAI_API_KEY
    openai:smollm2@http://127.0.0.1:8000/v1     a self-hosted server (vLLM, SGLang, llama.cpp, Ollama)

The SDK is the transport only: its own retries are off (``max_retries=0``) because promptlift's
retry loop (``retry.py``) is the only one, and response bodies are read raw and checked by
``wire.parse``, so a malformed answer is an error rather than a half-parsed object.

Defaults: choice scoring by ``top_logprobs`` (the OpenAI API, vLLM, SGLang and llama.cpp's
server all return them); plain-format requests (``/completions``) are allowed when a
``base_url`` is given (self-hosted servers serve that endpoint, api.openai.com only for a few
legacy models). Prices come from litellm's price map for OpenAI models; a self-hosted model
has unknown prices unless ``prices=(input, output)`` (dollars per million tokens) is given.
See ``api.py`` for the shared options (concurrency, retries, deadline, rate limits).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from promptlift.backends.api import APIBackend, APIOptions, Secret, redact
from promptlift.backends.wire import decode
from promptlift.errors import BackendError, ConfigError, MissingDependency

log = logging.getLogger(__name__)

_SPEC = re.compile(r"^(?P<model>.+?)@(?P<url>https?://\S+)$")
_HOST = re.compile(r"[A-Za-z0-9._~%-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")  # a name, an IPv4 or an IPv6 address
PLACEHOLDER_KEY = "EMPTY"  # what self-hosted servers without auth accept (vLLM's convention)


def public_url(url: str) -> str:
    """``url`` without user info, query or fragment (the form used in ids and logs)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # an unclosed IPv6 bracket, a port beyond 65535 ...
        raise ConfigError(f"{url!r} is not a valid URL ({exc})") from None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not _HOST.fullmatch(host) or not url.isascii() or not url.isprintable():
        raise ConfigError(f"{url!r} is not a valid URL (expected http(s)://HOST[:PORT]/PATH in printable ASCII)")
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


class OpenAIBackend(APIBackend):
    """A model behind an OpenAI-compatible API.

    ``api_key`` defaults to ``$OPENAI_API_KEY`` (a self-hosted ``base_url`` needs none);
    ``base_url`` to ``$OPENAI_BASE_URL`` or api.openai.com. Other options: ``APIOptions``.
    """

    engine = "openai"

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None, **options: Any) -> None:
        if not model:
            raise ConfigError("OpenAIBackend needs a model name, e.g. 'gpt-4.1-mini'.")
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key and not self.base_url:
            raise ConfigError("OpenAIBackend needs an API key: set OPENAI_API_KEY or pass api_key=...")
        self._key = Secret(key or PLACEHOLDER_KEY)
        self.id = f"openai:{model}" + (f"@{public_url(self.base_url)}" if self.base_url else "")
        self._client_lock = threading.Lock()
        self._sdk_client: Any = None
        super().__init__(model, APIOptions.parse(options, "OpenAIBackend"), secrets=(self._key,), provider="openai")

    @classmethod
    def from_spec(cls, model: str, **options: Any) -> OpenAIBackend:
        """From the part of a model string after ``openai:`` (``MODEL`` or ``MODEL@BASE_URL``)."""
        match = _SPEC.match(model)
        if match:
            options.setdefault("base_url", match["url"])
            model = match["model"]
        return cls(model, **options)

    def _raw_prompt_default(self) -> bool:
        return self.base_url is not None

    def _prepare(self) -> None:
        self._client()

    def _client(self) -> Any:
        with self._client_lock:
            if self._sdk_client is None:
                try:
                    import openai
                except ImportError as exc:
                    raise MissingDependency("the openai backend needs the 'openai' package: pip install openai") from exc
                client = openai.OpenAI(
                    api_key=self._key.reveal(), base_url=self.base_url, max_retries=0, timeout=self.options.deadline
                )
                client.chat.completions, client.completions  # noqa: B018 - import the resources now, not on the clock
                self._sdk_client = client
            return self._sdk_client

    def _send(self, endpoint: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        import openai

        client = self._client()
        resource = client.chat.completions if endpoint == "chat" else client.completions
        try:
            raw = resource.with_raw_response.create(model=self.model, timeout=timeout, **body)
            text = raw.http_response.text
        except openai.APIStatusError as exc:
            raise self.status_error(exc.status_code, _body_text(exc), exc.response.headers) from None
        except openai.APITimeoutError:
            raise self.connection_error("timeout", f"no answer within {timeout:.3g} s") from None
        except openai.APIConnectionError as exc:
            raise self.connection_error("connection error", _cause_name(exc)) from None
        except openai.OpenAIError as exc:
            raise BackendError(redact(str(exc), self._secrets)[:300], backend=self.id) from None
        return decode(text, self.id)

    def close(self) -> None:
        super().close()
        with self._client_lock:
            client, self._sdk_client = self._sdk_client, None
        if client is not None:
            client.close()


def _body_text(exc: Any) -> str:
    try:
        return exc.response.text
    except Exception:  # a streamed or unread body: fall back to the SDK's message
        return str(getattr(exc, "message", ""))


def _cause_name(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return type(cause).__name__ if cause is not None else ""
