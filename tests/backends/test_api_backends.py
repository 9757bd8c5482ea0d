"""OpenAIBackend and LiteLLMBackend: model strings, options, capabilities, prices, budgets."""

from __future__ import annotations

import pytest

from promptlift import Budget, FewShot
from promptlift.backends.litellm import LiteLLMBackend
from promptlift.backends.openai import OpenAIBackend
from promptlift.backends.registry import load_backend
from promptlift.errors import CapabilityError, ConfigError
from promptlift.testing.doubles import toy_task
from promptlift.types import Message, Request
from tests.backends.conftest import make_backend


def test_openai_model_strings(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    hosted = load_backend("openai:gpt-4.1-mini")
    assert isinstance(hosted, OpenAIBackend) and hosted.id == "openai:gpt-4.1-mini" and hosted.base_url is None
    local = load_backend("openai:smollm2@http://user:pw@127.0.0.1:8000/v1/?key=x", max_concurrency=2)
    assert local.model == "smollm2" and local.base_url == "http://user:pw@127.0.0.1:8000/v1/?key=x"
    assert local.id == "openai:smollm2@http://127.0.0.1:8000/v1"  # no user info or query in the cache key
    assert local.options.max_concurrency == 2


def test_litellm_model_strings():
    backend = load_backend("litellm:openai/smollm2", base_url="http://127.0.0.1:9/v1", choice_scoring="logprobs")
    assert isinstance(backend, LiteLLMBackend) and backend.provider == "openai"
    assert backend.id == "litellm:openai/smollm2@http://127.0.0.1:9/v1"
    with pytest.raises(ConfigError, match="PROVIDER/MODEL"):
        load_backend("litellm:gpt-4o")


def test_hosted_openai_needs_a_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIBackend("gpt-4.1-mini")
    assert OpenAIBackend("m", base_url="http://127.0.0.1:9/v1").id.startswith("openai:m@")  # self-hosted: no key


def test_unknown_and_bad_options_are_named():
    with pytest.raises(ConfigError, match=r"Unknown option\(s\) max_concurency for OpenAIBackend. Options: .*max_concurrency"):
        OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", max_concurency=4)
    with pytest.raises(ConfigError, match=r"'max_concurrency' parameter of an API backend must be an int in \[1, 512\]. Got 0."):
        OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", max_concurrency=0)
    with pytest.raises(ConfigError, match="choice_scoring"):
        OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", choice_scoring="magic")


def test_repr_and_state_never_show_the_key():
    key = "sk-repr-canary-0123456789"
    for backend in (OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", api_key=key, deadline=5.0),
                    LiteLLMBackend("openai/m", api_base="http://127.0.0.1:9/v1", api_key=key, choice_scoring="logprobs")):
        shown = repr(backend) + str(vars(backend)) + str(backend.__dict__.values())
        assert key not in shown and "***" in str(vars(backend))
    assert repr(OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", deadline=5.0)) == (
        "OpenAIBackend('openai:m@http://127.0.0.1:9/v1', deadline=5.0)"
    )


def test_capabilities_say_how_choices_are_scored():
    openai = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1")
    assert openai.capabilities.choice_scoring and openai.capabilities.raw_prompt
    assert OpenAIBackend("gpt-4.1-mini", api_key="k").capabilities.raw_prompt is False
    generating = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", choice_scoring="generate")
    assert generating.capabilities.choice_scoring is False


def test_litellm_auto_mode_asks_litellm_which_providers_return_logprobs():
    assert LiteLLMBackend("openai/gpt-4o-mini", api_key="k").mode == "logprobs"
    claude = LiteLLMBackend("anthropic/claude-haiku-4-5", api_key="k")
    assert claude.mode == "generate" and claude.capabilities.choice_scoring is False
    assert claude.prices_known and claude.capabilities.max_context >= 100_000


def test_requests_the_backend_cannot_serve_fail_before_any_call():
    hosted = OpenAIBackend("gpt-4.1-mini", api_key="k")
    with pytest.raises(CapabilityError, match="raw prompt"):
        hosted.complete([Request(prompt="Review: x\nSentiment:")])
    with pytest.raises(CapabilityError, match="soft prompts"):
        hosted.complete([Request(messages=(Message("user", "x"),), soft_prompt="p.safetensors")])
    assert hosted.stats["attempts"] == 0


def test_prices_known_for_hosted_models_and_unknown_for_self_hosted():
    assert OpenAIBackend("gpt-4.1-mini", api_key="k").prices_known
    local = OpenAIBackend("smollm2", base_url="http://127.0.0.1:9/v1")
    assert not local.prices_known
    assert OpenAIBackend("smollm2", base_url="http://127.0.0.1:9/v1", prices=(0, 0)).prices_known


def test_a_dollar_budget_is_refused_when_a_price_is_unknown(faults):
    backend = make_backend("openai", faults.url)
    with pytest.raises(ConfigError, match="price of openai:smollm2@.* is unknown"):
        FewShot(k=2).optimize(toy_task(), backend, budget=Budget(dollars=1.0), cache=None)
    assert faults.hits == 0


def test_dollars_are_counted_when_prices_are_known(faults):
    backend = make_backend("openai", faults.url, prices=(1.0, 2.0))  # $ per million tokens
    [completion] = backend.complete([Request(messages=(Message("user", "x"),))])
    usage = completion.usage
    assert usage.dollars == pytest.approx(usage.prompt_tokens * 1e-6 + usage.completion_tokens * 2e-6)
    result = FewShot(k=2, max_candidates=2).optimize(toy_task(16), backend, budget=Budget(dollars=1.0), cache=None)
    assert result.usage.dollars is not None and result.usage.dollars > 0


def test_token_budget_overshoot_under_concurrency_is_at_most_one_chunk(faults):
    from promptlift import Run
    from promptlift.errors import BudgetExhausted

    backend = make_backend("openai", faults.url, max_concurrency=8)
    task = toy_task(80)
    run = Run(task, backend, budget=Budget(tokens=30), cache=None, chunk=8)
    with pytest.raises(BudgetExhausted, match="tokens"):
        run.evaluate(task.seed, task.train)  # 40 examples, 12 tokens each on the fault server
    spent = run.usage.tokens
    assert faults.hits == 8 and spent == 8 * 12  # one chunk of 8 concurrent calls, then the check stops it
    assert spent - 30 <= run.chunk * 12  # the documented bound: one chunk of requests
