"""Estimated cost of a completion, from list prices per 1,000 tokens (US dollars).

Prices are estimates for dashboards and budgets, not invoices; update the table when providers
change theirs. A dated model name (``gpt-4o-mini-2024-07-18``) is priced as the longest table
entry it starts with.
"""

from __future__ import annotations

from dataclasses import dataclass

FREE_PROVIDERS = frozenset({"local", "ollama"})


@dataclass(frozen=True)
class Price:
    input_per_1k: float
    output_per_1k: float


PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-4o-mini": Price(0.00015, 0.0006),
    "gpt-4o": Price(0.0025, 0.01),
    "gpt-4.1-nano": Price(0.0001, 0.0004),
    "gpt-4.1-mini": Price(0.0004, 0.0016),
    "gpt-4.1": Price(0.002, 0.008),
    "o4-mini": Price(0.0011, 0.0044),
    # Anthropic
    "claude-3-5-haiku": Price(0.0008, 0.004),
    "claude-haiku-4-5": Price(0.001, 0.005),
    "claude-sonnet-4": Price(0.003, 0.015),
    "claude-3-7-sonnet": Price(0.003, 0.015),
    "claude-opus-4": Price(0.015, 0.075),
    "claude-opus-4-5": Price(0.005, 0.025),
}


def price_for(model: str, prices: dict[str, Price] | None = None) -> Price | None:
    table = PRICES if prices is None else prices
    if model in table:
        return table[model]
    matches = [name for name in table if model.startswith(name)]
    return table[max(matches, key=len)] if matches else None


def estimate_cost(
    provider: str,
    model: str,
    tokens_in: int,
    tokens_out: int,
    prices: dict[str, Price] | None = None,
) -> float | None:
    """Dollars for one completion; 0 for free providers, None for an unknown paid model."""
    if provider in FREE_PROVIDERS:
        return 0.0
    price = price_for(model, prices)
    if price is None:
        return None
    cost = tokens_in / 1000 * price.input_per_1k + tokens_out / 1000 * price.output_per_1k
    return round(cost, 8)
