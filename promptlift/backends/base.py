"""The Backend contract: one batch-first call that every model engine implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence, TypeGuard, runtime_checkable

from promptlift.types import Completion, Request


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do; optimizers and tasks check these up front."""

    chat: bool = True
    choice_scoring: bool = True  # exact log-probabilities of given continuations
    raw_prompt: bool = False  # can score/generate a plain completion prompt (no chat template)
    soft_prompts: bool = False  # applies Request.soft_prompt
    gradients: bool = False  # implements the GradientBackend protocol
    weights: bool = False  # applies Request.weights (LoRA adapters, fine-tuned models, probe heads)
    max_context: int = 2048

    def has(self, capability: str) -> bool:
        """Whether the capability named ``capability`` (a field above, e.g. "raw_prompt") is on."""
        return bool(getattr(self, capability))


@runtime_checkable
class Backend(Protocol):
    """A model behind one call.

    ``id`` is stable across processes (engine + model + weights hash) and keys the response
    cache. ``complete`` returns one Completion per Request, in order; concurrency, batching,
    retries and rate limits live behind it.
    """

    id: str
    capabilities: Capabilities

    def complete(self, requests: Sequence[Request]) -> list[Completion]: ...


@runtime_checkable
class GradientBackend(Backend, Protocol):
    """A backend whose model can be trained in process (soft prompts, LoRA, fine-tuning, probes).

    ``model`` is the transformers causal LM the backend scores with, ``tokenizer`` its
    tokenizer, and ``encode(request)`` returns ``(prompt_ids, choice_ids)`` exactly as scoring
    tokenizes them, so training sees the tokens evaluation sees. Only the torch backend
    implements it; optimizers that train call :func:`require_gradients` up front.
    """

    model: Any
    tokenizer: Any

    def encode(self, request: Request) -> tuple[list[int], list[list[int]]]: ...


def require_gradients(backend: Backend, purpose: str) -> GradientBackend:
    """``backend`` as a GradientBackend, or a CapabilityError naming ``purpose`` and what is missing."""
    from promptlift.errors import CapabilityError

    require(backend, "gradients", purpose)
    if not isinstance(backend, GradientBackend):
        raise CapabilityError(
            f"{purpose} needs a gradient backend exposing model, tokenizer and encode(); "
            f"{backend.id} claims 'gradients' but is not one",
            backend=backend.id,
        )
    return backend


# --- optional capabilities ----------------------------------------------------------------------
# Not every backend has these, so they are not in ``Backend``; each is asked here and only here.
@runtime_checkable
class TokenCounting(Protocol):
    """Counts prompt tokens with the model's own tokenizer, with no model call (local engines)."""

    def count_tokens(self, requests: Sequence[Request]) -> list[int]: ...


@runtime_checkable
class Priced(Protocol):
    """Knows whether it has a price per token (API backends; a local engine costs nothing)."""

    @property
    def prices_known(self) -> bool: ...


@runtime_checkable
class Costing(Protocol):
    """Prices tokens itself (API backends): dollars, or None when the model's price is unknown."""

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None: ...


@runtime_checkable
class Concurrent(Protocol):
    """Serves several requests of one batch at once (API backends: a thread pool)."""

    @property
    def concurrency(self) -> int: ...


@runtime_checkable
class Streaming(Protocol):
    """Hands each completion to ``on_completion`` as it arrives (API backends), so a cache keeps it at once."""

    streams_completions: bool

    def complete(self, requests: Sequence[Request], *,
                 on_completion: Callable[[int, Completion], None] | None = None) -> list[Completion]: ...


@runtime_checkable
class Closing(Protocol):
    """Holds connections or threads that ``close()`` releases."""

    def close(self) -> None: ...


def token_counter(backend: Backend) -> Callable[[Sequence[Request]], list[int]] | None:
    """``backend.count_tokens`` where the backend counts tokens itself, else None."""
    return backend.count_tokens if isinstance(backend, TokenCounting) else None


def prices_known(backend: Backend) -> bool:
    """False only for a priced backend whose model has no known price (a dollar budget cannot be kept)."""
    return not isinstance(backend, Priced) or backend.prices_known


def dollars(backend: Backend, prompt_tokens: int, completion_tokens: int) -> float | None:
    """What these tokens cost on ``backend``: None where its price is unknown, 0 for a local
    engine (its usage reports 0 dollars)."""
    if isinstance(backend, Costing):
        return backend.cost(prompt_tokens, completion_tokens)
    return 0.0 if prices_known(backend) else None


def concurrency(backend: Backend) -> int:
    """How many requests of one batch ``backend`` serves at once (1 for an engine without a pool)."""
    return max(1, backend.concurrency) if isinstance(backend, Concurrent) else 1


def streams(backend: Backend) -> TypeGuard[Streaming]:
    """Whether ``backend.complete`` takes ``on_completion``."""
    return isinstance(backend, Streaming) and bool(backend.streams_completions)


def close(backend: Backend) -> None:
    """Release what ``backend`` holds (nothing for an engine without ``close``)."""
    if isinstance(backend, Closing):
        backend.close()


def require(backend: Backend, capability: str, purpose: str) -> None:
    """Raise a clear CapabilityError if ``backend`` lacks ``capability``."""
    from promptlift.errors import CapabilityError

    if not backend.capabilities.has(capability):
        raise CapabilityError(
            f"{purpose} needs a backend with {capability!r}; {backend.id} does not have it",
            backend=backend.id,
        )


def common_prefix(sequences: Sequence[Sequence[int]]) -> int:
    """Length of the longest prefix shared by all token sequences (engines reuse it as KV)."""
    if not sequences:
        return 0
    first, n = sequences[0], min(len(s) for s in sequences)
    for i in range(n):
        if any(s[i] != first[i] for s in sequences):
            return i
    return n
