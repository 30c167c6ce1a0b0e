"""Profile one in-process Worker draining a backlog of no-op tasks: Python hot spots and SQL.

Usage: python benchmarks/profile_worker.py [--tasks 20000] [--concurrency 500]
       [--profiler cprofile|pyinstrument|none] [--top 25]

Creates a scratch database ``am_bench_<random>_prof`` on the configured server (DATABASE_URL
or the embedded server), migrates it, enqueues the backlog, then runs ONE ``Worker`` (with the
orchestrator hooks, as ``automechanica worker`` does, but without the rescuer/pruner) in this
process until the backlog is empty, and drops the database. Prints a text report on stdout:

- the drain rate (with the profiler's overhead: compare with ``--profiler none``);
- every SQL statement the worker ran, timed on the client (round trip + server), by total time;
- the top Python functions (cProfile: by own time and by cumulative time; pyinstrument: its
  call tree, if it is installed - it is not a project dependency).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import re
import secrets
import sys
import time
from collections import defaultdict
from typing import Any

import psycopg
from psycopg import sql

from automechanica.db.migrate import migrate_to
from automechanica.db.pool import Database, _statement_text
from automechanica.db.target import resolve_target
from automechanica.logs import configure_logging
from automechanica.queue.tasks import NewTask, enqueue
from automechanica.queue.worker import Worker, WorkerConfig
from automechanica.settings import load_settings
from automechanica.wiring import default_agents, default_orchestrator

NOOP = NewTask(agent_name="noop", task_type="noop")
_SPACE = re.compile(r"\s+")


def with_database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def short(statement: Any, width: int = 110) -> str:
    text = _SPACE.sub(" ", _statement_text(statement)).strip() or "(empty: pool connection check)"
    return text if len(text) <= width else text[: width - 3] + "..."


class SqlTally:
    """Wraps the pool's observer: count and time every statement, grouped by its text."""

    def __init__(self, db: Database) -> None:
        self.by_stmt: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
        self._inner = db.observer.observe

        def observe(query: Any, duration_ms: float, error: BaseException | None) -> None:
            self.add(short(query), duration_ms)
            self._inner(query, duration_ms, error)

        db.observer.observe = observe  # type: ignore[method-assign]
        self._patch_commits()

    def add(self, label: str, ms: float) -> None:
        entry = self.by_stmt[label]
        entry[0] += 1
        entry[1] += ms
        entry[2] = max(entry[2], ms)

    def _patch_commits(self) -> None:
        """COMMITs are not cursor statements: time transaction exits and commit() calls too."""
        tally = self
        orig_exit = psycopg.AsyncTransaction.__aexit__
        orig_commit = psycopg.AsyncConnection.commit

        async def timed_exit(self: Any, *exc: Any) -> Any:
            start = time.perf_counter()
            try:
                return await orig_exit(self, *exc)
            finally:
                outer = getattr(self, "_outer_transaction", True)
                label = "(COMMIT: end of a transaction block)" if outer else "(RELEASE SAVEPOINT)"
                tally.add(label, (time.perf_counter() - start) * 1000)

        async def timed_commit(self: Any) -> None:
            start = time.perf_counter()
            try:
                await orig_commit(self)
            finally:
                tally.add("(COMMIT: connection.commit())", (time.perf_counter() - start) * 1000)

        psycopg.AsyncTransaction.__aexit__ = timed_exit  # type: ignore[method-assign,assignment]
        psycopg.AsyncConnection.commit = timed_commit  # type: ignore[method-assign]

    def report(self, wall_s: float) -> str:
        lines = [
            f"{'calls':>7} {'total ms':>10} {'mean ms':>8} {'max ms':>8} {'% wall':>6}  statement"
        ]
        rows = sorted(self.by_stmt.items(), key=lambda kv: -kv[1][1])
        for stmt, (calls, total, worst) in rows:
            share = total / (wall_s * 1000) * 100 if wall_s else 0
            lines.append(
                f"{int(calls):>7} {total:>10.1f} {total / calls:>8.2f} {worst:>8.1f} "
                f"{share:>5.1f}%  {stmt}"
            )
        return "\n".join(lines)


class ExplainingConn:
    """A connection whose ``execute`` first runs ``EXPLAIN (ANALYZE, BUFFERS, WAL)`` of the same
    statement in a savepoint that is rolled back, then the statement itself."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.plans: list[tuple[str, list[str]]] = []

    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        async with self.conn.transaction(force_rollback=True):
            cur = await self.conn.execute("EXPLAIN (ANALYZE, BUFFERS, WAL) " + query, params)
            self.plans.append((short(query, 80), [r[0] for r in await cur.fetchall()]))
        return await self.conn.execute(query, params, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


async def explain(dsn: str, limit: int) -> str:
    """Plans of one claim of ``limit`` tasks and of completing them, on the filled backlog."""
    from automechanica.queue import tasks

    out: list[str] = []
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        xconn = ExplainingConn(conn)
        try:
            claimed = await tasks.claim(xconn, owner="explain:1", limit=limit, lease_ms=30000)
            finished = [tasks.Finished(c.id, c.lease_epoch, result={}) for c in claimed]
            await tasks.complete_many(xconn, "explain:1", finished)
        except Exception as exc:  # the repository's API moves; report rather than fail
            out.append(f"(explain stopped: {type(exc).__name__}: {exc})")
        await conn.rollback()  # leave the backlog as it was
        for stmt, plan in xconn.plans:
            out.append(f"-- {stmt}")
            out.extend(plan)
            out.append("")
    return "\n".join(out)


async def drain(dsn: str, settings: Any, args: argparse.Namespace) -> dict[str, Any]:
    db = Database.from_settings(dsn, settings)
    tally = SqlTally(db)
    config = WorkerConfig.from_settings(settings, concurrency=args.concurrency, poll_interval_ms=50)
    worker = Worker(db, default_agents(), config, hooks=default_orchestrator())
    stop = asyncio.Event()
    await db.open()
    monitor = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    profiler: Any = None
    if args.profiler == "cprofile":
        profiler = cProfile.Profile()
    elif args.profiler == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
    start = time.perf_counter()
    if profiler is not None:
        profiler.enable() if args.profiler == "cprofile" else profiler.start()
    runner = asyncio.create_task(worker.run(stop))
    try:
        while True:
            await asyncio.sleep(0.1)
            cur = await monitor.execute(
                "SELECT count(*) FROM tasks WHERE status IN ('pending', 'running')"
            )
            row = await cur.fetchone()
            if row and row[0] == 0:
                break
            if runner.done():
                runner.result()
                raise RuntimeError("the worker stopped before the backlog was drained")
        wall = time.perf_counter() - start
    finally:
        if profiler is not None:
            profiler.disable() if args.profiler == "cprofile" else profiler.stop()
        stop.set()
        await runner
        cur = await monitor.execute(
            "SELECT count(*), extract(epoch FROM max(finished_at) - min(started_at)) "
            "FROM tasks WHERE status = 'completed'"
        )
        done, span = await cur.fetchone() or (0, None)
        await monitor.close()
        await db.close()
    return {
        "completed": int(done),
        "wall_s": wall,
        "db_span_s": float(span) if span else None,
        "stats": worker.stats,
        "sql": tally.report(wall),
        "profiler": profiler,
    }


def main() -> int:
    p = argparse.ArgumentParser(description="Profile one in-process Worker draining noop tasks.")
    p.add_argument("--tasks", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=500)
    p.add_argument("--profiler", choices=["cprofile", "pyinstrument", "none"], default="cprofile")
    p.add_argument("--top", type=int, default=25)
    p.add_argument(
        "--explain",
        action="store_true",
        help="also print EXPLAIN (ANALYZE, BUFFERS, WAL) of one claim and one completion",
    )
    p.add_argument("--pstats-out", default=None, help="also dump cProfile stats to this file")
    args = p.parse_args()

    settings = load_settings()
    configure_logging("warning", "json", stream=sys.stderr)
    target = resolve_target(settings)
    name = f"am_bench_{secrets.token_hex(4)}_prof"
    dsn = with_database(target.dsn, name)
    with psycopg.connect(target.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        migrate_to(dsn, "head")

        async def fill() -> None:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                for _ in range(args.tasks // 1000):
                    await enqueue(conn, [NOOP] * 1000)
                await conn.execute("VACUUM ANALYZE tasks, task_events, agent_events")

        asyncio.run(fill())
        plans = asyncio.run(explain(dsn, args.concurrency)) if args.explain else ""
        print(
            f"draining {args.tasks} noop tasks, concurrency {args.concurrency}, "
            f"profiler {args.profiler}",
            file=sys.stderr,
        )
        res = asyncio.run(drain(dsn, settings, args))
    finally:
        with psycopg.connect(target.dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    wall = res["wall_s"]
    print(
        f"completed {res['completed']} in {wall:.2f} s wall "
        f"({res['completed'] / wall:.0f} tasks/s; first claim -> last completion "
        f"{res['db_span_s'] or 0:.2f} s); worker stats {res['stats']}"
    )
    print(f"\n== SQL statements (client-side time, % of {wall:.2f} s wall) ==")
    print(res["sql"])
    if plans:
        print(f"\n== plans: one claim of {args.concurrency} tasks and their completion ==")
        print(plans)
    prof = res["profiler"]
    if args.profiler == "cprofile":
        for key in ("tottime", "cumulative"):
            buf = io.StringIO()
            stats = pstats.Stats(prof, stream=buf)
            stats.sort_stats(key).print_stats(args.top)
            print(f"\n== cProfile, top {args.top} by {key} ==")
            print("\n".join(buf.getvalue().splitlines()[4:]))
        if args.pstats_out:
            prof.dump_stats(args.pstats_out)
    elif args.profiler == "pyinstrument":
        print("\n== pyinstrument ==")
        print(prof.output_text(unicode=False, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
