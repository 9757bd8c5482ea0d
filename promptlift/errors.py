"""The one exception tree of promptlift.

Every error promptlift raises on purpose derives from :class:`PromptliftError`, and its
message is one line that names what is wrong and where::

    PromptliftError
    ├── ConfigError            bad hyperparameter, unknown name, bad model string
    │   └── MissingDependency  an optional package or file is not installed
    ├── DataError              a malformed data file or example (``path:line: what``)
    ├── MetricError            a user metric raised or returned NaN, inf or a value outside [0, 1]
    │                          (names the metric, the example and the value)
    ├── BackendError           a model call failed (carries the backend id, never a secret)
    │   ├── RetryableError     worth retrying: 408/409/429/5xx, connection reset, timeout
    │   ├── MalformedResponse  the server answered, but not with a usable completion
    │   └── CapabilityError    the backend cannot do what was asked (soft prompts, raw prompts)
    ├── BudgetExhausted        a Budget limit was reached; the run stops cleanly
    ├── CacheError             the response cache is unreadable
    └── DatabaseUnavailable    a sweep's database stayed unreachable past its limit
"""

from __future__ import annotations


class PromptliftError(Exception):
    """Base of every error promptlift raises on purpose."""


class ConfigError(PromptliftError, ValueError):
    """A parameter, name or model string is not valid."""


class MissingDependency(ConfigError, ImportError):
    """An optional package or a model file is missing; the message names the install command."""


class DataError(PromptliftError, ValueError):
    """A data file or an example is malformed; the message starts with ``path:line:``."""


class MetricError(PromptliftError):
    """A metric raised, or returned no usable score: a bug in the metric, not a model output.

    ``Run`` scores such an example 0 and stops the run once more than 5% of the examples
    scored so far failed (``tasks.metric_errors.MAX_METRIC_ERROR_RATE``)."""


class BackendError(PromptliftError):
    """A model call failed. ``backend`` is the backend id; ``status`` the HTTP status if any."""

    def __init__(self, message: str, *, backend: str = "", status: int | None = None) -> None:
        prefix = f"[{backend}] " if backend else ""
        super().__init__(prefix + message)
        self.backend = backend
        self.status = status


class RetryableError(BackendError):
    """A failure worth retrying (rate limit, server error, connection error, timeout)."""

    def __init__(
        self,
        message: str,
        *,
        backend: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, backend=backend, status=status)
        self.retry_after = retry_after


class MalformedResponse(BackendError):
    """The server answered with something that is not a usable completion (never cached)."""


class CapabilityError(BackendError, ConfigError):
    """The backend lacks a capability the caller needs (e.g. gradients for soft prompts)."""


class BudgetExhausted(PromptliftError):
    """A budget limit was reached; ``limit`` names which one."""

    def __init__(self, limit: str) -> None:
        super().__init__(f"budget exhausted: {limit}")
        self.limit = limit


class CacheError(PromptliftError):
    """The response cache could not be read or written."""


class DatabaseUnavailable(PromptliftError):
    """A sweep's database could not be reached for longer than the worker may wait."""


def param_error(owner: str, name: str, requirement: str, got: object) -> ConfigError:
    """The one message template for a bad hyperparameter (scikit-learn style)."""
    return ConfigError(f"The {name!r} parameter of {owner} must be {requirement}. Got {got!r}.")
