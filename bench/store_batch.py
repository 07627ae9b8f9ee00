"""CPU per stored batch: psycopg async (as the hub did) against asyncpg (as it does now).

    .venv/bin/python bench/store_batch.py        # needs PostgreSQL on 127.0.0.1:5432, database "test"

Each variant takes the advisory lock, inserts a batch of 1 or 8 updates and unlocks, 1,000
times, on a scratch table it creates and drops; it prints wall time and this process's CPU
time per batch. The CPU figure is what the hub's event loop pays per group-commit batch.
"""

from __future__ import annotations

import json
import resource
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import psycopg
import uvloop
from psycopg.types.json import Jsonb

DSN = "postgresql://postgres@127.0.0.1:5432/test"
TABLE = "hubbub_bench_store"
COLUMNS = "(uid, topics, data, private, type, retry, created)"
LOCK = 0x6875_6263


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(name: str, batch: Callable[[int], Awaitable[None]]) -> None:
    for size in (1, 8):
        for _ in range(50):
            await batch(size)
        rounds = 1000
        wall, used = time.perf_counter(), cpu()
        for _ in range(rounds):
            await batch(size)
        wall, used = time.perf_counter() - wall, cpu() - used
        print(f"{name:42s} batch of {size}: {1e6 * wall / rounds:7.1f} µs wall, {1e6 * used / rounds:6.1f} µs CPU")


async def main() -> None:
    pg = await psycopg.AsyncConnection.connect(DSN, autocommit=True)
    apg = await asyncpg.connect(DSN)
    await apg.execute(f"DROP TABLE IF EXISTS {TABLE}")
    await apg.execute(
        f"CREATE TABLE {TABLE} (seq bigserial PRIMARY KEY, uid varchar(512), topics jsonb, data text,"
        " private bool, type varchar(255), retry int, created timestamptz)"
    )
    now = datetime.now(UTC)

    async def psycopg_three_statements(size: int) -> None:
        values: list[object] = []
        for _ in range(size):
            values += [uuid.uuid4().hex, Jsonb(["/rooms/1"]), "bench-data", False, "", None, now]
        rows = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * size)
        await pg.execute("SELECT pg_advisory_lock(%s)", [LOCK])
        cursor = await pg.execute(f"INSERT INTO {TABLE} {COLUMNS} VALUES {rows} RETURNING seq", values)
        await cursor.fetchall()
        await pg.execute("SELECT pg_advisory_unlock(%s)", [LOCK])

    lock_and_insert = (
        f"WITH ordering AS MATERIALIZED (SELECT pg_advisory_lock($1)) INSERT INTO {TABLE} {COLUMNS}"
        " SELECT row.* FROM ordering, unnest($2::text[], $3::jsonb[], $4::text[], $5::bool[], $6::text[],"
        " $7::int[], $8::timestamptz[]) AS row RETURNING seq"
    )

    async def asyncpg_two_statements(size: int) -> None:
        await apg.fetch(
            lock_and_insert,
            LOCK,
            [uuid.uuid4().hex for _ in range(size)],
            [json.dumps(["/rooms/1"])] * size,
            ["bench-data"] * size,
            [False] * size,
            [""] * size,
            [None] * size,
            [now] * size,
        )
        await apg.execute("SELECT pg_advisory_unlock($1)", LOCK)

    try:
        await measure("psycopg async: lock, INSERT VALUES, unlock", psycopg_three_statements)
        await measure("asyncpg: lock + INSERT unnest, unlock", asyncpg_two_statements)
    finally:
        await apg.execute(f"DROP TABLE {TABLE}")
        await apg.close()
        await pg.close()


if __name__ == "__main__":
    uvloop.run(main())
