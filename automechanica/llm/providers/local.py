"""The offline default: a deterministic stand-in for a model, with no network and no cost.

The reply is derived from the SHA-256 of the model name and the whole conversation, so the same
request always gets the same text and token counts (tests, demos, replaying a workflow). The
text is plausible prose, not an answer: never route production work to ``local`` by accident.
"""

from __future__ import annotations

import hashlib

from automechanica.llm.providers.base import Provider, ProviderReply, count_words
from automechanica.llm.request import LLMRequest

_VOCABULARY = (
    "the", "part", "fits", "engine", "brake", "rotor", "sensor", "gasket", "pump", "filter",
    "assembly", "front", "rear", "left", "right", "model", "year", "vehicle", "listing",
    "catalog", "matches", "torque", "spec", "within", "tolerance", "replace", "inspect",
    "compatible", "with", "and", "for", "this", "kit", "bracket", "hose", "mount", "checked",
    "confirmed", "likely", "review", "supplier", "number", "cross", "reference", "fitment",
    "noted", "trim", "variant", "axle", "bearing", "seal", "clutch", "valve", "housing",
)  # fmt: skip
_MIN_WORDS = 12
_SPREAD = 36  # reply length is _MIN_WORDS + (digest byte % _SPREAD) words, before max_tokens
_SENTENCE = 9


def _render(request: LLMRequest, model: str) -> str:
    parts = [f"model:{model}", f"system:{request.system or ''}"]
    parts += [f"{m.role}:{m.content}" for m in request.conversation()]
    return "\n".join(parts)


def _byte_stream(seed: bytes, count: int) -> bytes:
    out = b""
    block = seed
    while len(out) < count:
        block = hashlib.sha256(block).digest()
        out += block
    return out[:count]


class LocalProvider(Provider):
    name = "local"
    default_model = "local-echo-1"

    async def complete(self, request: LLMRequest, model: str) -> ProviderReply:
        return self.reply(request, model)

    def reply(self, request: LLMRequest, model: str) -> ProviderReply:
        """The deterministic reply, synchronously (the async ``complete`` wraps this)."""
        digest = hashlib.sha256(_render(request, model).encode("utf-8")).digest()
        length = min(_MIN_WORDS + digest[0] % _SPREAD, request.max_tokens)
        picks = _byte_stream(digest, length)
        words = [_VOCABULARY[b % len(_VOCABULARY)] for b in picks]
        sentences = []
        for start in range(0, len(words), _SENTENCE):
            chunk = words[start : start + _SENTENCE]
            sentences.append(" ".join(chunk).capitalize() + ".")
        text = " ".join(sentences)
        tokens_in = count_words(request.system or "") + sum(
            count_words(m.content) for m in request.conversation()
        )
        return ProviderReply(
            text=text, model=model, tokens_in=tokens_in, tokens_out=count_words(text)
        )
