"""The LLM router: one entry point that picks a provider, bounds the call and falls back.

For each route in the task kind's chain (``llm/routing.py``) the router skips the provider if
it is not configured or its breaker is open (``llm/breaker.py``), otherwise calls it under
``LLM_TIMEOUT_MS``, retrying retryable failures up to ``LLM_MAX_RETRIES`` times with backoff
(``llm/retry.py``). A non-retryable failure, exhausted retries or a breaker that opens
mid-way moves on to the next route. When the chain runs out, ``AllProvidersFailed`` carries
one entry per attempt and skip in ``details["attempts"]``.

Log events: ``llm_attempt_failed`` (warning, one per failed call), ``llm_provider_skipped``
(info), ``llm_all_providers_failed`` (error), ``llm_breaker_transition`` (from the breaker),
``llm_call`` (debug, one per success). Breakers are per process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

import httpx

from automechanica.errors import AllProvidersFailed, ProviderError
from automechanica.llm.breaker import BreakerConfig, BreakerState, CircuitBreaker, Clock
from automechanica.llm.pricing import estimate_cost
from automechanica.llm.providers import Provider, ProviderReply, build_providers
from automechanica.llm.request import LLMRequest, LLMResult
from automechanica.llm.retry import RetryPolicy, error_class_of, provider_error
from automechanica.llm.routing import Route, RoutingTable
from automechanica.logs import get_logger
from automechanica.redaction import redact_text
from automechanica.settings import Settings

log = get_logger("automechanica.llm")

Sleep = Callable[[float], Awaitable[Any]]


class LLMRouter:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        routes: RoutingTable | None = None,
        *,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        breaker: BreakerConfig | None = None,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        """``client`` is the HTTP client the providers share; ``aclose()`` closes it."""
        self.routes = routes or RoutingTable()
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self._providers = dict(providers)
        self._breakers = {
            name: CircuitBreaker(name, breaker, clock=clock, wall_clock=wall_clock)
            for name in self._providers
        }
        self._sleep = sleep
        self._client = client

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        routes: RoutingTable | None = None,
        breaker: BreakerConfig | None = None,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> LLMRouter:
        """A router over every provider, configured from settings; call ``aclose()`` when done.

        ``routes`` defaults to ``RoutingTable.from_settings``; ``breaker`` to
        ``LLM_BREAKER_FAILURES`` / ``LLM_BREAKER_COOLDOWN_MS`` when those settings exist.
        """
        timeout_s = settings.llm_timeout_ms / 1000
        client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s))
        return cls(
            build_providers(settings, client),
            routes or RoutingTable.from_settings(settings),
            timeout_s=timeout_s,
            retry=RetryPolicy(max_retries=settings.llm_max_retries),
            breaker=breaker or _breaker_config(settings),
            clock=clock,
            wall_clock=wall_clock,
            sleep=sleep,
            client=client,
        )

    async def complete(self, request: LLMRequest) -> LLMResult:
        """The first successful completion along the request's chain.

        Raises ``AllProvidersFailed`` when every route failed or was skipped.
        """
        attempts: list[dict[str, Any]] = []
        calls = 0
        for route in self.routes.chain_for(request.task_kind):
            provider = self._providers.get(route.provider)
            if provider is None or provider.not_configured_reason is not None:
                reason = provider.not_configured_reason if provider else None
                attempts.append(
                    self._skipped(request, route, "not_configured", reason or "not registered")
                )
                continue
            breaker = self._breakers[route.provider]
            for attempt in range(1, self.retry.max_attempts + 1):
                if not breaker.try_acquire():
                    why = f"circuit breaker is {breaker.state.value}"
                    attempts.append(self._skipped(request, route, "circuit_open", why))
                    break
                calls += 1
                started = time.perf_counter()
                try:
                    reply = await self._call_once(provider, route.model, request)
                except ProviderError as exc:
                    breaker.record_failure()
                    latency_ms = _ms_since(started)
                    will_retry = (
                        exc.retryable
                        and attempt < self.retry.max_attempts
                        and breaker.state is BreakerState.CLOSED
                    )
                    delay_s = (
                        self.retry.backoff_s(attempt, _retry_after(exc)) if will_retry else None
                    )
                    attempts.append(self._failed(request, route, attempt, exc, latency_ms, delay_s))
                    if delay_s is None:
                        break
                    await self._sleep(delay_s)
                    continue
                except BaseException:
                    breaker.release()
                    raise
                breaker.record_success()
                result = LLMResult(
                    text=reply.text,
                    provider=route.provider,
                    model=reply.model,
                    tokens_in=reply.tokens_in,
                    tokens_out=reply.tokens_out,
                    latency_ms=_ms_since(started),
                    cost_estimate=estimate_cost(
                        route.provider, reply.model, reply.tokens_in, reply.tokens_out
                    ),
                    prompt_version=request.prompt_version,
                    task_kind=request.task_kind,
                    attempts=calls,
                )
                log.debug(
                    "llm_call",
                    task_kind=request.task_kind,
                    provider=result.provider,
                    model=result.model,
                    tokens_in=result.tokens_in,
                    tokens_out=result.tokens_out,
                    latency_ms=result.latency_ms,
                    attempts=calls,
                )
                return result
        raise self._all_failed(request, attempts)

    def state(self) -> dict[str, Any]:
        """Each provider's configuration and breaker, the default chain and the whole table."""
        providers: dict[str, Any] = {}
        for name, provider in self._providers.items():
            entry: dict[str, Any] = {
                "configured": provider.configured,
                "reason": provider.not_configured_reason,
            }
            entry.update(self._breakers[name].snapshot())
            providers[name] = entry
        return {
            "providers": providers,
            "default_chain": [str(r) for r in self.routes.default_chain],
            "routes": self.routes.describe(),
        }

    def breaker(self, provider: str) -> CircuitBreaker:
        return self._breakers[provider]

    async def aclose(self) -> None:
        """Close the shared HTTP client; safe to call twice."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> LLMRouter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _call_once(
        self, provider: Provider, model: str, request: LLMRequest
    ) -> ProviderReply:
        try:
            async with asyncio.timeout(self.timeout_s):
                return await provider.complete(request, model)
        except TimeoutError:
            raise provider_error(
                "timeout",
                f"{provider.name} did not answer within {round(self.timeout_s * 1000)} ms",
            ) from None
        except ProviderError:
            raise
        except Exception as exc:
            detail = redact_text(str(exc))[:200]
            raise provider_error(
                "unexpected", f"{provider.name} failed: {type(exc).__name__}: {detail}"
            ) from exc

    def _skipped(
        self, request: LLMRequest, route: Route, error_class: str, reason: str
    ) -> dict[str, Any]:
        log.info(
            "llm_provider_skipped",
            task_kind=request.task_kind,
            provider=route.provider,
            model=route.model,
            error_class=error_class,
            reason=reason,
        )
        return {
            "provider": route.provider,
            "model": route.model,
            "attempt": 0,
            "error_class": error_class,
            "status": None,
            "retryable": False,
            "message": reason,
        }

    def _failed(
        self,
        request: LLMRequest,
        route: Route,
        attempt: int,
        exc: ProviderError,
        latency_ms: float,
        delay_s: float | None,
    ) -> dict[str, Any]:
        error_class = error_class_of(exc)
        status = exc.details.get("status") if isinstance(exc.details, dict) else None
        message = redact_text(exc.message)
        log.warning(
            "llm_attempt_failed",
            task_kind=request.task_kind,
            provider=route.provider,
            model=route.model,
            attempt=attempt,
            max_attempts=self.retry.max_attempts,
            error_class=error_class,
            status=status,
            retryable=exc.retryable,
            will_retry=delay_s is not None,
            backoff_ms=None if delay_s is None else round(delay_s * 1000),
            latency_ms=latency_ms,
            error=message,
        )
        return {
            "provider": route.provider,
            "model": route.model,
            "attempt": attempt,
            "error_class": error_class,
            "status": status,
            "retryable": exc.retryable,
            "message": message,
        }

    def _all_failed(
        self, request: LLMRequest, attempts: list[dict[str, Any]]
    ) -> AllProvidersFailed:
        last_by_route: dict[str, dict[str, Any]] = {}
        for entry in attempts:
            last_by_route[f"{entry['provider']}:{entry['model']}"] = entry
        summary = "; ".join(
            f"{route} {e['error_class']}" + (f" (HTTP {e['status']})" if e["status"] else "")
            for route, e in last_by_route.items()
        )
        message = f"every LLM provider failed for task kind {request.task_kind!r}: {summary}"
        log.error(
            "llm_all_providers_failed",
            task_kind=request.task_kind,
            calls=sum(1 for e in attempts if e["attempt"]),
            summary=summary,
        )
        return AllProvidersFailed(
            message, details={"task_kind": request.task_kind, "attempts": attempts}
        )


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _retry_after(exc: ProviderError) -> float | None:
    value = exc.details.get("retry_after_s") if isinstance(exc.details, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _breaker_config(settings: Settings) -> BreakerConfig:
    # Read when Settings has them (see docs/llm.md); the defaults otherwise.
    defaults = BreakerConfig()
    failures = getattr(settings, "llm_breaker_failures", None)
    cooldown_ms = getattr(settings, "llm_breaker_cooldown_ms", None)
    return BreakerConfig(
        failure_threshold=int(failures) if failures else defaults.failure_threshold,
        cooldown_s=cooldown_ms / 1000 if cooldown_ms else defaults.cooldown_s,
    )
