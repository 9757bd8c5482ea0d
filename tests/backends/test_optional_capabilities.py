"""The optional backend capabilities (``promptlift.backends.base``): each is asked in one place, by
protocol, never by probing attribute names (test doubles: ScriptedBackend and small doubles here)."""

import pytest

from promptlift import Budget
from promptlift.backends.base import (
    Backend,
    GradientBackend,
    close,
    concurrency,
    dollars,
    prices_known,
    streams,
    token_counter,
)
from promptlift.bench.runner import model_parameters
from promptlift.cache import CachedBackend, ResponseCache, unwrap
from promptlift.errors import ConfigError
from promptlift.run import Run
from promptlift.testing.doubles import scripted, toy_task


class UnpricedDouble:
    """A test double shaped like an API backend: a model *name*, unknown prices, streaming, close()."""

    def __init__(self):
        self.inner = scripted("api")
        self.id, self.capabilities = "api:unpriced", self.inner.capabilities
        self.model = "some-api-model"  # a string, not a torch module
        self.prices_known = False
        self.streams_completions = True
        self.closed = False
        self.streamed = 0

    def complete(self, requests, *, on_completion=None):
        answers = self.inner.complete(requests)
        for i, answer in enumerate(answers):
            if on_completion is not None:
                self.streamed += 1
                on_completion(i, answer)
        return answers

    def close(self):
        self.closed = True


def test_the_protocols_recognise_what_a_backend_has():
    plain, api = scripted(), UnpricedDouble()
    assert isinstance(plain, Backend) and isinstance(api, Backend)
    assert not isinstance(plain, GradientBackend) and not isinstance(api, GradientBackend)
    assert token_counter(plain) is not None and token_counter(api) is None
    assert prices_known(plain) and not prices_known(api)
    assert streams(api) and not streams(plain)
    close(plain)  # nothing to release: no error
    close(api)
    assert api.closed


def test_a_cache_streams_through_and_unwraps(tmp_path):
    api = UnpricedDouble()
    cached = CachedBackend(api, ResponseCache(tmp_path / "c.sqlite"))
    task = toy_task()
    cached.complete([task.render(task.seed, e) for e in task.val[:3]])
    assert api.streamed == 3 and unwrap(cached) is api and unwrap(api) is api


def test_a_dollar_budget_refuses_a_backend_of_unknown_price():
    with pytest.raises(ConfigError, match="price of api:unpriced is unknown"):
        Run(toy_task(), UnpricedDouble(), budget=Budget(dollars=1.0))


def test_model_parameters_reads_only_an_in_process_model():
    assert model_parameters(UnpricedDouble()) is None  # its ``model`` is a name, not a module
    assert model_parameters(scripted()) is None


class PricedDouble(UnpricedDouble):
    """A test double of an API backend with a known price and a pool of 4."""

    prices_known = True
    concurrency = 4

    def __init__(self):
        super().__init__()
        self.prices_known = True

    def cost(self, prompt_tokens, completion_tokens):
        return prompt_tokens * 1e-6 + completion_tokens * 2e-6


def test_dollars_and_concurrency_are_asked_by_protocol():
    plain, unpriced, priced = scripted(), UnpricedDouble(), PricedDouble()
    assert dollars(plain, 100, 10) == 0.0 and dollars(unpriced, 100, 10) is None
    assert dollars(priced, 100, 10) == pytest.approx(1.2e-4)
    assert concurrency(plain) == 1 and concurrency(unpriced) == 1 and concurrency(priced) == 4
