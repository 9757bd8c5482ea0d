"""Token counts and dollar prices for API calls.

Prices come from litellm's bundled price map (``model_prices_and_context_window_backup.json``,
the copy litellm itself uses with ``LITELLM_LOCAL_MODEL_COST_MAP=True``). The file is read
directly, so pricing an OpenAI call does not import litellm, and costs are reproducible (no
price fetched from the internet). A model the map does not know has *unknown* prices:
``Usage.dollars`` is then None, never 0, and ``Run`` refuses a dollar budget up front.
Self-hosted servers can declare their price with ``prices=(input, output)`` in dollars per
million tokens (``(0, 0)`` for a free local server).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from promptlift.errors import ConfigError
from promptlift.types import Usage

log = logging.getLogger(__name__)

PRICE_FILE = "model_prices_and_context_window_backup.json"


@dataclass(frozen=True)
class Prices:
    """Dollars per token for prompt and completion tokens; None when unknown."""

    input: float | None = None
    output: float | None = None
    source: str = "unknown"

    @property
    def known(self) -> bool:
        return self.input is not None and self.output is not None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if not self.known:
            return None
        return prompt_tokens * self.input + completion_tokens * self.output  # type: ignore[operator]

    @classmethod
    def per_million(cls, prices: Sequence[float] | Mapping[str, float]) -> Prices:
        """From user prices in dollars per million tokens: ``(input, output)`` or a mapping."""
        pair: tuple[float, ...]
        try:
            if isinstance(prices, Mapping):
                pair = (float(prices["input"]), float(prices["output"]))
            else:
                pair = tuple(float(p) for p in prices)
        except (KeyError, TypeError, ValueError):
            pair = ()
        if len(pair) != 2 or min(pair) < 0:
            raise ConfigError(
                f"The 'prices' option must be (input, output) dollars per million tokens, both >= 0. Got {prices!r}."
            )
        return cls(pair[0] / 1e6, pair[1] / 1e6, source="user")


@functools.lru_cache(maxsize=1)
def price_map() -> dict[str, Any]:
    """litellm's bundled price map, found without importing litellm ({} if litellm is absent)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        log.warning("litellm is not installed: API prices are unknown")
        return {}
    path = Path(list(spec.submodule_search_locations)[0]) / PRICE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("cannot read litellm's price map %s: %s", path, exc)
        return {}


def model_entry(model: str, provider: str | None = None) -> dict[str, Any] | None:
    """The price-map entry of ``model`` (tried as given, with and without a provider prefix)."""
    table = price_map()
    names = [model]
    if provider:
        names.append(f"{provider}/{model}")
    if "/" in model:
        names.append(model.split("/", 1)[1])
    for name in names:
        entry = table.get(name)
        if isinstance(entry, dict) and name != "sample_spec":
            return entry
    return None


def lookup_prices(model: str, provider: str | None = None) -> Prices:
    entry = model_entry(model, provider)
    if entry is None:
        return Prices()
    cost_in, cost_out = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
    if not isinstance(cost_in, (int, float)) or not isinstance(cost_out, (int, float)):
        return Prices()
    return Prices(float(cost_in), float(cost_out), source="litellm")


def max_context(model: str, provider: str | None = None, default: int = 8192) -> int:
    entry = model_entry(model, provider) or {}
    value = entry.get("max_input_tokens") or entry.get("max_tokens")
    return int(value) if isinstance(value, (int, float)) and value > 0 else default


def usage_from(body: Mapping[str, Any], prices: Prices, seconds: float, estimate: int) -> Usage:
    """A Usage from a response's ``usage`` block (``estimate`` prompt tokens when it has none)."""
    block: Mapping[str, Any] = body["usage"] if isinstance(body.get("usage"), Mapping) else {}
    prompt = _count(block.get("prompt_tokens"), estimate)
    completion = _count(block.get("completion_tokens"), 0)
    return Usage(
        calls=1,
        prompt_tokens=prompt,
        completion_tokens=completion,
        dollars=prices.cost(prompt, completion),
        seconds=seconds,
    )


def _count(value: Any, fallback: int) -> int:
    return int(value) if isinstance(value, (int, float)) and value >= 0 else fallback
