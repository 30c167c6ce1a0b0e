from __future__ import annotations

from automechanica.llm import LLMRequest, LLMRouter, Message
from automechanica.llm.providers import LocalProvider

local = LocalProvider()


def test_same_request_gets_the_same_reply():
    request = LLMRequest(prompt="Does rotor R-12 fit a 2012 Civic?", system="Be brief.")

    first = local.reply(request, "local-echo-1")
    second = local.reply(
        LLMRequest(prompt="Does rotor R-12 fit a 2012 Civic?", system="Be brief."), "local-echo-1"
    )

    assert first == second
    assert first.text


def test_prompt_system_and_model_each_change_the_reply():
    base = local.reply(LLMRequest(prompt="part 4471", system="a"), "local-echo-1")

    assert local.reply(LLMRequest(prompt="part 4472", system="a"), "local-echo-1").text != base.text
    assert local.reply(LLMRequest(prompt="part 4471", system="b"), "local-echo-1").text != base.text
    assert local.reply(LLMRequest(prompt="part 4471", system="a"), "local-echo-2").text != base.text


def test_token_counts_are_word_counts():
    request = LLMRequest(
        system="You are terse.",
        messages=(Message("user", "one two three"), Message("assistant", "four")),
        prompt="five six",
    )

    reply = local.reply(request, "local-echo-1")

    assert reply.tokens_in == 3 + 3 + 1 + 2
    assert reply.tokens_out == len(reply.text.split())


def test_reply_never_exceeds_max_tokens():
    for n in range(40):
        reply = local.reply(LLMRequest(prompt=f"question {n}", max_tokens=5), "local-echo-1")
        assert reply.tokens_out <= 5


async def test_default_router_answers_locally_for_free():
    router = LLMRouter({"local": local})

    result = await router.complete(LLMRequest(prompt="hello", prompt_version="greet-v1"))

    assert (result.provider, result.model, result.cost_estimate) == ("local", "local-echo-1", 0.0)
    assert result.prompt_version == "greet-v1"
    assert result.text == local.reply(LLMRequest(prompt="hello"), "local-echo-1").text
