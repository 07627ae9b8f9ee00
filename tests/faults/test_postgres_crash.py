"""PostgreSQL crashed (an immediate shutdown: SIGQUIT to the postmaster, as ``pg_ctl stop -m
immediate``) while updates are being published, then started again."""

from __future__ import annotations

import asyncio

import pytest

from tests.faults.traffic import Traffic

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]
CRASHES = 4


async def test_postgres_killed_mid_publish(deploy, redis, postgres, report):
    deployment = deploy("postgres-crash", redis.url)
    # Publishers as fast as they can: the more updates in flight, the likelier a crash lands
    # between an update's storing and its answer.
    traffic = Traffic("postgres-crash", [server.hub for server in deployment.servers], publishers=8, pace=0)
    try:
        await traffic.start()
        for _ in range(CRASHES):
            await traffic.answered(100)
            await asyncio.to_thread(postgres.crash)
            # Down until a publisher has felt it (answered 503, or left without an answer), for
            # a second at most: a hub may hold publishers while it waits for the database.
            felt = traffic.troubled()
            await traffic.until(lambda felt=felt: traffic.troubled() > felt, 1)
            await asyncio.to_thread(postgres.start)
        await traffic.answered(100, timeout=30)
        await traffic.finish()
    finally:
        await traffic.stop()
    traffic.judge(deployment.env["DATABASE_URL"], report)
