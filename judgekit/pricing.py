"""Prices of common judge models, to turn token counts into US dollars.

``PRICES`` maps a model name (or the prefix of a dated one) to USD per million (input, output) tokens, as the
vendors listed them in 2025. Prices change: set ``JudgeConfig.price_per_million`` to override, or edit
``PRICES`` at start-up (``PRICES["my-model"] = (0.2, 0.2)``). Cached prompts, batch discounts and
reasoning-token surcharges are not modelled.
"""

from __future__ import annotations

from typing import Any

from judgekit.types import Usage

__all__ = ["PRICES", "cost_usd", "price_for"]


class _PriceTable(dict):  # type: ignore[type-arg]
    """A dict that forgets the memoised look-ups whenever it changes."""

    def _changed(self) -> None:
        _memo.clear()

    def __setitem__(self, key: str, value: tuple[float, float]) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()

    def pop(self, *args: Any) -> Any:
        self._changed()
        return super().pop(*args)

    def popitem(self) -> tuple[str, tuple[float, float]]:
        self._changed()
        return super().popitem()

    def setdefault(self, key: str, default: tuple[float, float]) -> tuple[float, float]:  # type: ignore[override]
        self._changed()
        return super().setdefault(key, default)

    def clear(self) -> None:
        super().clear()
        self._changed()

    def __ior__(self, other: Any) -> _PriceTable:
        super().__ior__(other)
        self._changed()
        return self


_memo: dict[str, tuple[float, float] | None] = {}

PRICES: dict[str, tuple[float, float]] = _PriceTable(
    {
        # OpenAI
        "gpt-5": (1.25, 10.0),
        "gpt-5-mini": (0.25, 2.0),
        "gpt-5-nano": (0.05, 0.40),
        "gpt-4.1": (2.0, 8.0),
        "gpt-4.1-mini": (0.40, 1.60),
        "gpt-4.1-nano": (0.10, 0.40),
        "gpt-4o": (2.50, 10.0),
        "gpt-4o-2024-05-13": (5.0, 15.0),
        "gpt-4o-mini": (0.15, 0.60),
        "gpt-4-turbo": (10.0, 30.0),
        "gpt-4": (30.0, 60.0),
        "gpt-3.5-turbo": (0.50, 1.50),
        "o1": (15.0, 60.0),
        "o1-mini": (1.10, 4.40),
        "o3": (2.0, 8.0),
        "o3-mini": (1.10, 4.40),
        "o4-mini": (1.10, 4.40),
        # Anthropic
        "claude-opus-4": (15.0, 75.0),
        "claude-sonnet-4": (3.0, 15.0),
        "claude-3-7-sonnet": (3.0, 15.0),
        "claude-3-5-sonnet": (3.0, 15.0),
        "claude-3-5-haiku": (0.80, 4.0),
        "claude-3-opus": (15.0, 75.0),
        "claude-3-haiku": (0.25, 1.25),
    }
)


def price_for(model: str | None) -> tuple[float, float] | None:
    """USD per million (input, output) tokens of ``model``: the longest ``PRICES`` key that is the model's
    name or a dash-separated prefix of it (``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``); None if unlisted.

    A ``vendor/`` prefix (``openai/gpt-4o``) is ignored.
    """
    if not model:
        return None
    try:
        return _memo[model]
    except KeyError:
        pass
    name = model.rsplit("/", 1)[-1].lower()
    price = PRICES.get(name)
    if price is None:
        best = ""
        for key in PRICES:
            if name.startswith(key + "-") and len(key) > len(best):
                best = key
        price = PRICES[best] if best else None
    if len(_memo) >= 4096:
        _memo.clear()
    _memo[model] = price
    return price


def cost_usd(usage: Usage, price: tuple[float, float] | None) -> float | None:
    """Dollars for ``usage`` at ``price`` (USD per million input, output tokens); None without a price."""
    if price is None:
        return None
    return (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1e6
