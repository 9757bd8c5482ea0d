"""What the API backends (openai, litellm) share: options, concurrency, retries, limits, usage.

One logical call (one Request) goes: rate limiter -> the one retry loop (``retry.py``) around
the engine's ``_send`` -> ``wire.parse`` (a malformed answer raises ``MalformedResponse``) ->
a Completion with its Usage (tokens from the server, dollars from ``usage.py``). The
per-call ``deadline`` starts once the rate limiter lets the first attempt go (client-side
queueing is not the server's fault); a retry's wait for the limiter counts against it.

Concurrency: ``complete(requests)`` runs up to ``max_concurrency`` calls at once on a thread
pool and returns the completions in request order. If any call fails, the calls not yet
started are cancelled, the running ones are waited for, and the first failure (in request
order) is raised. Each completion is handed to ``on_completion`` as it arrives, so the cache keeps
every answer received even when the batch fails or the process is killed: a kill costs at most
the calls in flight.

Budgets under concurrency: token and dollar costs are only known after a call returns, so
``Run`` checks its token/dollar/seconds limits before each chunk of requests (``Run.chunk``,
32 by default), and the backend never starts calls on its own. A run therefore overshoots a
token or dollar limit by at most one chunk: ``Run.chunk`` requests of at most
``prompt + max_tokens`` tokens each (task and proposer calls alike). ``lm_calls`` and
``metric_calls`` are checked before a batch is sent and are never exceeded.

Secrets: API keys live in a ``Secret`` (its repr is ``'***'``, and its value is registered with
``promptlift.redaction``, which scrubs every log record of the process); error messages are built
by promptlift from the status and a short, key-redacted excerpt of the server's answer, and the
SDK's exception is not chained (its text may echo the key).
"""

from __future__ import annotations

import concurrent.futures as futures
import dataclasses
import logging
import re
import threading
import time
from typing import Any, Callable, Mapping, Sequence

from promptlift import redaction
from promptlift.backends.base import Capabilities
from promptlift.backends.limits import RateLimiter
from promptlift.backends.retry import Retrier, RetryPolicy, is_retryable_status, parse_retry_after
from promptlift.backends.usage import Prices, lookup_prices, max_context, usage_from
from promptlift.backends.wire import MODES, Parsed, generated_choice, parse, payload, score_choices
from promptlift.checks import is_int, is_number
from promptlift.errors import BackendError, CapabilityError, ConfigError, RetryableError, param_error
from promptlift.types import Completion, Request, Usage

log = logging.getLogger(__name__)

MAX_CONCURRENCY = 512  # more threads than this is a typo, not a plan
CONTEXT_MARKERS = (
    "context_length_exceeded", "context length", "maximum context", "too many tokens", "context window",
    "contextwindowexceeded",
)


class Secret:
    """An API key that never shows itself in a repr, a str or a log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value or None
        redaction.register(self._value)

    def reveal(self) -> str | None:
        return self._value

    def __bool__(self) -> bool:
        return self._value is not None

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret(None)"

    __str__ = __repr__


def redact(text: str, secrets: Sequence[Secret]) -> str:
    """``text`` with every secret value (and any ``Bearer`` token) replaced by ``***``."""
    for secret in secrets:
        value = secret.reveal()
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return _BEARER.sub("Bearer ***", text)


@dataclasses.dataclass(frozen=True, kw_only=True)
class APIOptions:
    """Options every API backend takes (all keyword arguments of the backend's constructor).

    choice_scoring: "logprobs", "generate" or "auto" (the engine decides). top_logprobs: how
    many top tokens to ask for. raw_prompt: allow plain-format (``/completions``) requests;
    None lets the engine decide. prices: (input, output) dollars per million tokens, which
    overrides the price map. max_context: the model's context size (None: from the price map).
    """

    max_concurrency: int = 8
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    deadline: float = 60.0
    attempt_timeout: float | None = None
    max_retries: int = 6
    backoff: float = 0.5
    backoff_max: float = 30.0
    jitter: float = 0.5
    retry_after_max: float = 60.0
    choice_scoring: str = "auto"
    top_logprobs: int = 20
    raw_prompt: bool | None = None
    prices: tuple[float, float] | Mapping[str, float] | None = None
    max_context: int | None = None

    def __post_init__(self) -> None:
        def need(name: str, ok: bool, requirement: str) -> None:
            if not ok:
                raise param_error("an API backend", name, requirement, getattr(self, name))

        need("max_concurrency", is_int(self.max_concurrency, 1, MAX_CONCURRENCY),
             f"an int in [1, {MAX_CONCURRENCY}]")
        need("max_context", self.max_context is None or is_int(self.max_context, 1),
             "None or an int >= 1")
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            need(name, value is None or is_number(value, finite=True) and value > 0, "None or a number > 0")
        need("choice_scoring", self.choice_scoring in (*MODES, "auto"), "one of 'logprobs', 'generate', 'auto'")
        need("top_logprobs", is_int(self.top_logprobs, 1, 20), "an int in [1, 20]")
        self.retry_policy()  # validates the retry fields

    @classmethod
    def parse(cls, options: Mapping[str, Any], owner: str) -> APIOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"Unknown option(s) {', '.join(unknown)} for {owner}. Options: {', '.join(sorted(known))}.")
        return cls(**options)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_retries=self.max_retries, backoff=self.backoff, backoff_max=self.backoff_max,
            jitter=self.jitter, retry_after_max=self.retry_after_max, deadline=self.deadline,
            attempt_timeout=self.attempt_timeout,
        )


class APIBackend:
    """Base of the API backends: subclasses set ``id`` and implement ``_send``.

    ``stats`` counts logical ``calls``, wire ``attempts`` and ``failures`` (thread-safe), so
    ``attempts - calls`` is the number of retries.
    """

    engine = "api"
    streams_completions = True  # complete() takes on_completion (CachedBackend stores each answer at once)
    id: str = "api:unset"  # engines set it (engine + model + public base url) before __init__ runs

    def __init__(self, model: str, options: APIOptions, *, secrets: Sequence[Secret] = (), provider: str | None = None) -> None:
        self.model = model
        self.options = options
        self._secrets = tuple(secrets)
        redaction.install()  # the SDKs' loggers print headers at DEBUG: scrub every record of the process
        self.prices = Prices.per_million(options.prices) if options.prices is not None else lookup_prices(model, provider)
        self.mode = options.choice_scoring if options.choice_scoring != "auto" else self._auto_mode()
        self.capabilities = self._capabilities()
        self.retrier = Retrier(options.retry_policy(), backend=self.id)
        self.limiter = RateLimiter(options.requests_per_minute, options.tokens_per_minute)
        self.stats = {"calls": 0, "attempts": 0, "failures": 0}
        self._lock = threading.Lock()
        self._pool: futures.ThreadPoolExecutor | None = None

    # --- what engines provide --------------------------------------------------------------
    def _send(self, endpoint: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        """POST ``body`` to ``endpoint`` ("chat" or "text"); return the decoded JSON body.

        Raise RetryableError / BackendError (already redacted) for failures.
        """
        raise NotImplementedError

    def _prepare(self) -> None:
        """Import the SDK and build the client (before any call's clock starts)."""

    def _auto_mode(self) -> str:
        return "logprobs"

    def _raw_prompt_default(self) -> bool:
        return False

    def _capabilities(self) -> Capabilities:
        raw = self.options.raw_prompt if self.options.raw_prompt is not None else self._raw_prompt_default()
        context = self.options.max_context or max_context(self.model)
        return Capabilities(chat=True, choice_scoring=self.mode == "logprobs", raw_prompt=raw, max_context=context)

    # --- the batch call ----------------------------------------------------------------------
    @property
    def prices_known(self) -> bool:
        return self.prices.known

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Dollars for these tokens at this model's price; None when the price is unknown."""
        return self.prices.cost(prompt_tokens, completion_tokens)

    @property
    def concurrency(self) -> int:
        return self.options.max_concurrency

    def complete(
        self, requests: Sequence[Request], *, on_completion: Callable[[int, Completion], None] | None = None
    ) -> list[Completion]:
        """The completions in request order; ``on_completion(index, completion)`` hears each one as it
        arrives (from a worker thread), so a caller can keep it even if the batch fails or is killed."""
        requests = list(requests)
        for request in requests:
            self._check(request)
        if requests:
            self._prepare()
        if len(requests) <= 1 or self.options.max_concurrency == 1:
            return [self._deliver(i, self._call(r), on_completion) for i, r in enumerate(requests)]
        pool = self._executor()
        jobs = [pool.submit(self._call_and_deliver, i, r, on_completion) for i, r in enumerate(requests)]
        try:
            futures.wait(jobs, return_when=futures.FIRST_EXCEPTION)
        except BaseException:  # Ctrl-C: start nothing more; the running calls end on their own
            for job in jobs:
                job.cancel()
            raise
        failed = [job for job in jobs if job.done() and not job.cancelled() and job.exception() is not None]
        if failed:
            for job in jobs:
                job.cancel()
            futures.wait(jobs)
            raise failed[0].exception()  # type: ignore[misc]
        return [job.result() for job in jobs]

    def _call_and_deliver(self, index: int, request: Request,
                          listener: Callable[[int, Completion], None] | None) -> Completion:
        return self._deliver(index, self._call(request), listener)

    @staticmethod
    def _deliver(index: int, completion: Completion, listener: Callable[[int, Completion], None] | None) -> Completion:
        if listener is not None:
            listener(index, completion)
        return completion

    def _check(self, request: Request) -> None:
        if request.soft_prompt or request.weights:
            raise CapabilityError("soft prompts and trained weights need a local torch backend", backend=self.id)
        if not request.is_chat and not self.capabilities.raw_prompt:
            raise CapabilityError(
                "plain-format (raw prompt) requests need raw_prompt=True and a server with /completions",
                backend=self.id,
            )

    def _call(self, request: Request) -> Completion:
        """One logical call: limiter, retries, parsing, usage."""
        endpoint = "chat" if request.is_chat else "text"
        body = payload(request, mode=self.mode, top_logprobs=self.options.top_logprobs)
        prompt_estimate = _estimate_prompt_tokens(request)
        estimate = prompt_estimate + body["max_tokens"]
        self.limiter.acquire(estimate)
        self._count("calls")
        started = time.perf_counter()

        def attempt(timeout: float) -> dict[str, Any]:
            self._count("attempts")
            return self._send(endpoint, body, timeout)

        try:
            raw = self.retrier.call(attempt, before_retry=lambda: self._wait_for(estimate))
            logprobs = bool(request.choices) and self.mode == "logprobs"
            parsed = parse(raw, request, logprobs=logprobs, backend=self.id)
        except BackendError:
            self._count("failures")
            raise
        usage = usage_from(raw, self.prices, time.perf_counter() - started, prompt_estimate)
        self.limiter.settle(estimate, usage.tokens)
        return self._completion(request, parsed, usage)

    def _completion(self, request: Request, parsed: Parsed, usage: Usage) -> Completion:
        if not request.choices:
            return Completion(text=parsed.text, usage=usage)
        if self.mode == "logprobs":
            scores = score_choices(request.choices, parsed.top)
            best = max(range(len(scores)), key=scores.__getitem__)
            return Completion(text=request.choices[best], choice_logprobs=scores, usage=usage)
        text, scores = generated_choice(parsed.text, request.choices)
        return Completion(text=text, choice_logprobs=scores, usage=usage)

    def _wait_for(self, estimate: int) -> None:
        """Before a retry: wait for the rate limiter again (a retry is a request too)."""
        self.limiter.acquire(estimate)

    def _count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    def _executor(self) -> futures.ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = futures.ThreadPoolExecutor(self.options.max_concurrency, thread_name_prefix=self.engine)
            return self._pool

    def close(self) -> None:
        """Stop the worker threads (the backend can still be used; they restart on demand)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    # --- errors ------------------------------------------------------------------------------
    def status_error(self, status: int, text: str, headers: Mapping[str, str] | None = None) -> BackendError:
        """The typed error for an HTTP status: RetryableError (with Retry-After) or BackendError."""
        excerpt = " ".join(redact(text, self._secrets).split())[:300]
        if is_retryable_status(status):
            return RetryableError(f"HTTP {status}: {excerpt}", backend=self.id, status=status,
                                  retry_after=parse_retry_after(headers))
        context = status in (400, 413) and any(marker in text.lower() for marker in CONTEXT_MARKERS)
        what = " (context length exceeded)" if context else ""
        return BackendError(f"HTTP {status}{what}: {excerpt}", backend=self.id, status=status)

    def connection_error(self, kind: str, detail: str = "") -> RetryableError:
        detail = redact(detail, self._secrets)[:200]
        return RetryableError(f"{kind}{': ' + detail if detail else ''}", backend=self.id)

    def __repr__(self) -> str:
        shown = {k: v for k, v in dataclasses.asdict(self.options).items() if v != _DEFAULTS[k]}
        extra = "".join(f", {k}={v!r}" for k, v in shown.items())
        return f"{type(self).__name__}({self.id!r}{extra})"

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(f"{type(self).__name__} is not picklable (it holds an API key and threads)")


def _estimate_prompt_tokens(request: Request) -> int:
    text = request.prompt if request.prompt is not None else " ".join(m.content for m in request.messages)
    return max(1, len(text) // 4)


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(APIOptions)}

_BEARER = re.compile(r"Bearer\s+[A-Za-z0-9._~+/=-]+")
