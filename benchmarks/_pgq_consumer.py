"""A PgQueuer consumer process for ``queue_throughput.py``: runs a no-op entrypoint until SIGTERM.

Usage: ``python benchmarks/_pgq_consumer.py DSN --batch-size 300 [--max-concurrent N] [--pool N]``

It is PgQueuer's own ``QueueManager`` with one entrypoint (``noop``) that returns at once, so
what is measured is PgQueuer's dequeue / log / heartbeat machinery, as for automechanica's
``noop`` agent. Prints ``ready`` on stderr once the manager is about to run.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import timedelta

import asyncpg
from pgqueuer import AsyncpgDriver, AsyncpgPoolDriver, Queries, QueueManager
from pgqueuer.models import Job


async def main(args: argparse.Namespace) -> None:
    pool = None
    conn = None
    driver: AsyncpgDriver | AsyncpgPoolDriver
    if args.pool > 1:
        pool = await asyncpg.create_pool(args.dsn, min_size=2, max_size=args.pool)
        driver = AsyncpgPoolDriver(pool)
    else:
        conn = await asyncpg.connect(args.dsn)
        driver = AsyncpgDriver(conn)
    qm = QueueManager(Queries(driver))

    @qm.entrypoint("noop")
    async def noop(job: Job) -> None:
        return None

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, qm.shutdown.set)
    print("ready", file=sys.stderr, flush=True)
    try:
        await qm.run(
            batch_size=args.batch_size,
            max_concurrent_tasks=args.max_concurrent or None,
            dequeue_timeout=timedelta(seconds=args.dequeue_timeout),
        )
    finally:
        if pool is not None:
            await pool.close()
        if conn is not None:
            await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dsn")
    parser.add_argument("--batch-size", type=int, default=300)
    parser.add_argument("--max-concurrent", type=int, default=0)
    parser.add_argument("--pool", type=int, default=0, help="asyncpg pool size (0: one connection)")
    parser.add_argument("--dequeue-timeout", type=float, default=30.0)
    asyncio.run(main(parser.parse_args()))
