from __future__ import annotations

import pytest

from automechanica.llm.pricing import Price, estimate_cost


def test_cost_uses_input_and_output_prices_per_thousand_tokens():
    assert estimate_cost("openai", "gpt-4o", 2000, 500) == pytest.approx(2 * 0.0025 + 0.5 * 0.01)


def test_dated_model_is_priced_as_its_longest_matching_family():
    mini = estimate_cost("openai", "gpt-4o-mini-2024-07-18", 1000, 1000)

    assert mini == pytest.approx(0.00015 + 0.0006)
    assert mini != estimate_cost("openai", "gpt-4o", 1000, 1000)


def test_local_and_ollama_cost_nothing():
    assert estimate_cost("local", "local-echo-1", 10_000, 10_000) == 0.0
    assert estimate_cost("ollama", "llama3.2", 10_000, 10_000) == 0.0


def test_unknown_paid_model_has_no_estimate():
    assert estimate_cost("openai", "some-future-model", 100, 100) is None


def test_custom_price_table():
    prices = {"house-model": Price(1.0, 2.0)}

    assert estimate_cost("openai", "house-model", 500, 250, prices) == pytest.approx(1.0)
