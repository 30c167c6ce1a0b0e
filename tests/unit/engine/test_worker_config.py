"""Worker settings come from the environment's settings; CLI overrides win unless unset."""

from __future__ import annotations

from automechanica.queue.worker import WorkerConfig
from automechanica.settings import Settings


def test_config_from_settings_with_overrides() -> None:
    settings = Settings(
        max_concurrent_tasks=12,
        agent_concurrency={"diagnostician": 2},
        task_lease_ms=9000,
        task_poll_interval_ms=200,
        task_timeout_ms=4000,
        task_retry_base_ms=300,
        worker_drain_timeout_ms=1500,
    )
    config = WorkerConfig.from_settings(settings, concurrency=None, agents=["intake"])
    assert config.concurrency == 12  # None means "not given on the command line"
    assert config.agents == ["intake"]
    assert config.agent_limits == {"diagnostician": 2}
    assert (config.lease_ms, config.poll_interval_ms) == (9000, 200)
    assert (config.task_timeout_ms, config.retry_base_ms) == (4000, 300)
    assert config.drain_timeout_ms == 1500
    assert WorkerConfig.from_settings(settings, concurrency=3).concurrency == 3
