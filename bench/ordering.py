"""The cluster's ordering point: how many updates a second it lets through, by number of workers.

    .venv/bin/python bench/ordering.py                  # needs PostgreSQL (database "test") and Redis on 127.0.0.1
    .venv/bin/python bench/ordering.py --workers 1,2,4,8 --batch 1,8 --seconds 3

Every update the hub stores goes through one ordering lock (see ``hubbub._history``): this
measures that lock alone, without HTTP or fan-out. Each worker is a process of its own with
one asyncpg connection and one Redis connection, storing batches of ``--batch`` updates as
fast as it can, on a scratch table shaped like the hub's (created and dropped here), in
three ways:

- ``session lock``: as the hub did before issue 12: take a session advisory lock and
  insert (one statement), send the batch to Redis (``PUBLISH``), then unlock: two
  PostgreSQL round trips and a Redis one while every other worker waits;
- ``transaction lock``: as it does now: a transaction-scoped advisory lock taken in the
  insert statement, released by its commit; the batch is sent after, outside the lock;
- ``no lock``: the same insert and send with no ordering at all: what the database and
  Redis take, the ceiling of any ordering point.

It prints updates stored per second for each, and the ratio to one worker. On a machine
with fewer cores than workers (plus PostgreSQL and Redis) the workers share cores: compare
the ways at the same worker count, not the worker counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import redis.asyncio as aioredis
import uvloop

DSN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
TABLE = "hubbub_bench_ordering"
LOCK = 0x6875_6264
CHANNEL = f"hubbub-bench-ordering-{uuid.uuid4().hex[:8]}"

_INSERT = (
    "INSERT INTO {table} (uid, topics, data, private, type, retry, created)"
    " SELECT r.uid, r.topics, r.data, r.private, r.type, r.retry, r.created FROM {source}"
    " unnest($2::text[], $3::jsonb[], $4::text[], $5::bool[], $6::text[], $7::int[], $8::timestamptz[])"
    " WITH ORDINALITY AS r(uid, topics, data, private, type, retry, created, n)"
    " ORDER BY r.n ON CONFLICT (uid) DO NOTHING RETURNING seq"
)
STATEMENTS = {
    "session lock": _INSERT.format(table=TABLE, source="(SELECT pg_advisory_lock($1)) AS ordering(locked),"),
    "transaction lock": _INSERT.format(table=TABLE, source="(SELECT pg_advisory_xact_lock($1)) AS ordering(locked),"),
    "no lock": _INSERT.format(table=TABLE, source="(SELECT $1::bigint) AS ordering(locked),"),
}


async def _worker(way: str, batch: int, seconds: float, start_at: float, counts: multiprocessing.Queue) -> None:
    connection = await asyncpg.connect(DSN)
    client = aioredis.Redis.from_url(REDIS)
    statement = STATEMENTS[way]
    now = datetime.now(UTC)
    stored = 0
    while time.time() < start_at:
        await asyncio.sleep(0.001)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ids = [uuid.uuid4().hex for _ in range(batch)]
        rows = await connection.fetch(
            statement,
            LOCK,
            ids,
            [json.dumps(["/rooms/1"])] * batch,
            ["bench-data"] * batch,
            [False] * batch,
            [""] * batch,
            [None] * batch,
            [now] * batch,
        )
        await client.publish(CHANNEL, json.dumps([[row["seq"], uid] for row, uid in zip(rows, ids, strict=True)]))
        if way == "session lock":
            await connection.execute("SELECT pg_advisory_unlock($1)", LOCK)
        stored += len(rows)
    counts.put(stored)
    await client.aclose()
    await connection.close()


def _run_worker(way: str, batch: int, seconds: float, start_at: float, counts: multiprocessing.Queue) -> None:
    uvloop.run(_worker(way, batch, seconds, start_at, counts))


def measure(way: str, workers: int, batch: int, seconds: float) -> float:
    counts: multiprocessing.Queue = multiprocessing.Queue()
    start_at = time.time() + 1.0  # every process connected before the clock starts
    processes = [
        multiprocessing.Process(target=_run_worker, args=(way, batch, seconds, start_at, counts))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    total = sum(counts.get(timeout=seconds + 60) for _ in processes)
    for process in processes:
        process.join()
    return total / seconds


async def _table(action: str) -> None:
    connection = await asyncpg.connect(DSN)
    await connection.execute(f"DROP TABLE IF EXISTS {TABLE}")
    if action == "create":
        await connection.execute(
            f"CREATE TABLE {TABLE} (seq bigserial PRIMARY KEY, uid varchar(512) UNIQUE, topics jsonb, data text,"
            " private bool, type varchar(255), retry int, created timestamptz)"
        )
    await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--batch", default="1,8")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    asyncio.run(_table("create"))
    try:
        for batch in [int(n) for n in args.batch.split(",")]:
            print(f"batches of {batch} update{'s' if batch > 1 else ''}: updates stored per second")
            print(f"{'workers':>8}" + "".join(f"{way:>26}" for way in STATEMENTS))
            first: dict[str, float] = {}
            for workers in [int(n) for n in args.workers.split(",")]:
                line = f"{workers:>8}"
                for way in STATEMENTS:
                    rate = measure(way, workers, batch, args.seconds)
                    first.setdefault(way, rate)
                    line += f"{rate:>17,.0f} ({rate / first[way]:4.2f}×)"
                print(line, flush=True)
    finally:
        asyncio.run(_table("drop"))


if __name__ == "__main__":
    main()
