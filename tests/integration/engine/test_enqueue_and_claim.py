"""Enqueueing (idempotency keys, batches) and claiming (priority, age, availability, locking)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from automechanica.db.pool import Database
from automechanica.queue import tasks
from automechanica.queue.tasks import NewTask
from tests.integration.engine.harness import T0, scalar


def probe(n: int, **kwargs: Any) -> NewTask:
    return NewTask("probe", "probe", {"n": n}, **kwargs)


async def test_second_enqueue_with_the_same_key_returns_the_existing_id(db: Database) -> None:
    async with db.transaction() as conn:
        first = await tasks.enqueue_one(conn, probe(1, idempotency_key="order-42"))
    async with db.transaction() as conn:
        second = await tasks.enqueue_one(conn, probe(2, idempotency_key="order-42"))

    assert second == first
    assert await scalar(db, "SELECT count(*) FROM tasks") == 1
    assert await scalar(db, "SELECT payload FROM tasks WHERE id = %s", (first,)) == {"n": 1}
    assert await scalar(db, "SELECT count(*) FROM task_events WHERE task_id = %s", (first,)) == 1


async def test_batch_enqueue_mixing_new_and_duplicate_keys_returns_ids_in_input_order(
    db: Database,
) -> None:
    async with db.transaction() as conn:
        existing = await tasks.enqueue_one(conn, probe(0, idempotency_key="k-old"))
    batch = [
        probe(1, idempotency_key="k-new-1"),
        probe(2, idempotency_key="k-old"),
        probe(3),
        probe(4, idempotency_key="k-new-2"),
        probe(5, idempotency_key="k-old"),
    ]
    async with db.transaction() as conn:
        ids = await tasks.enqueue(conn, batch)

    assert len(ids) == 5
    assert ids[1] == ids[4] == existing
    assert len({ids[0], ids[2], ids[3], existing}) == 4
    assert await scalar(db, "SELECT count(*) FROM tasks") == 4
    for task_id, n in ((ids[0], 1), (ids[2], 3), (ids[3], 4)):
        assert await scalar(db, "SELECT payload ->> 'n' FROM tasks WHERE id = %s", (task_id,)) == (
            str(n)
        )
    # Only inserted tasks get an enqueue event.
    assert await scalar(db, "SELECT count(*) FROM task_events") == 4


async def test_a_key_repeated_within_one_batch_inserts_one_task(db: Database) -> None:
    async with db.transaction() as conn:
        ids = await tasks.enqueue(
            conn, [probe(1, idempotency_key="twice"), probe(2, idempotency_key="twice")]
        )
    assert ids[0] == ids[1]
    assert await scalar(db, "SELECT count(*) FROM tasks") == 1


async def test_claim_takes_highest_priority_first_then_the_oldest(db: Database) -> None:
    async with db.transaction() as conn:
        newer_normal = await tasks.enqueue_one(conn, probe(1, priority=5), now=T0)
        older_normal = await tasks.enqueue_one(
            conn, probe(2, priority=5), now=T0 - timedelta(seconds=1)
        )
        urgent = await tasks.enqueue_one(conn, probe(3, priority=1), now=T0 + timedelta(seconds=1))
        low = await tasks.enqueue_one(conn, probe(4, priority=9), now=T0 - timedelta(hours=1))

    order = []
    for _ in range(4):
        async with db.transaction() as conn:
            claimed = await tasks.claim(
                conn, owner="w", limit=1, lease_ms=1000, now=T0 + timedelta(seconds=2)
            )
        order += [c.id for c in claimed]
    assert order == [urgent, older_normal, newer_normal, low]


async def test_claim_skips_tasks_that_are_not_yet_available(db: Database) -> None:
    async with db.transaction() as conn:
        later = await tasks.enqueue_one(
            conn, probe(1, priority=0, available_at=T0 + timedelta(minutes=5)), now=T0
        )
        now_ = await tasks.enqueue_one(conn, probe(2, priority=9), now=T0)
        first = await tasks.claim(conn, owner="w", limit=10, lease_ms=1000, now=T0)
        second = await tasks.claim(
            conn, owner="w", limit=10, lease_ms=1000, now=T0 + timedelta(minutes=5)
        )
    assert [c.id for c in first] == [now_]
    assert [c.id for c in second] == [later]


async def test_claim_respects_limit_and_agent_filters(db: Database) -> None:
    async with db.transaction() as conn:
        await tasks.enqueue(conn, [probe(n) for n in range(5)])
        await tasks.enqueue(conn, [NewTask("other", "x", {"n": n}) for n in range(3)])
        two = await tasks.claim(conn, owner="w", limit=2, lease_ms=1000, agents=["probe"])
        others = await tasks.claim(conn, owner="w", limit=10, lease_ms=1000, agents=["other"])
        rest = await tasks.claim(conn, owner="w", limit=10, lease_ms=1000, exclude_agents=["x"])
    assert [c.agent_name for c in two] == ["probe", "probe"]
    assert sorted(c.payload["n"] for c in others) == [0, 1, 2]
    assert sorted(c.payload["n"] for c in rest) == [2, 3, 4]
    assert all(c.agent_name == "probe" for c in rest)


async def test_concurrent_claimers_get_disjoint_tasks(db: Database) -> None:
    async with db.transaction() as conn:
        await tasks.enqueue(conn, [probe(n) for n in range(8)])
    async with db.transaction() as a:
        first = await tasks.claim(a, owner="a", limit=5, lease_ms=1000)
        # ``a`` has not committed: its rows are locked and ``b`` skips them.
        async with db.transaction() as b:
            second = await tasks.claim(b, owner="b", limit=10, lease_ms=1000)
    assert len(first) == 5
    assert len(second) == 3
    assert not {c.id for c in first} & {c.id for c in second}
    assert await scalar(db, "SELECT count(DISTINCT lease_owner) FROM tasks") == 2


async def test_claim_sets_the_lease_from_the_injected_clock(db: Database) -> None:
    async with db.transaction() as conn:
        task_id = await tasks.enqueue_one(conn, probe(1), now=T0)
        [claimed] = await tasks.claim(conn, owner="w", limit=1, lease_ms=2500, now=T0)
        row = await tasks.get(conn, task_id)
    assert claimed.attempts == 0
    assert claimed.lease_epoch == 1
    assert row["lease_owner"] == "w"
    assert row["started_at"] == T0
    assert row["lease_expires_at"] == T0 + timedelta(milliseconds=2500)
