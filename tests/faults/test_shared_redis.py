"""Two deployments on one Redis server, told apart only by the DB number in ``REDIS_URL``
(``/1`` and ``/2``) and without ``HUBBUB_REDIS_PREFIX``: the same topics, public and private
updates on both, and nothing crosses."""

from __future__ import annotations

import asyncio

import pytest

from tests.faults.traffic import Traffic

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]


async def test_nothing_crosses_between_deployments_on_one_redis(deploy, redis, report):
    first = deploy("shared-redis-1", f"redis://127.0.0.1:{redis.port}/1", database="hubbub_1")
    second = deploy("shared-redis-2", f"redis://127.0.0.1:{redis.port}/2", database="hubbub_2")
    runs = [
        (first, Traffic("shared-redis-db1", [server.hub for server in first.servers])),
        (second, Traffic("shared-redis-db2", [server.hub for server in second.servers])),
    ]
    try:
        await asyncio.gather(*(traffic.start() for _, traffic in runs))
        await asyncio.gather(*(traffic.answered(150) for _, traffic in runs))
        await asyncio.gather(*(traffic.finish() for _, traffic in runs))
    finally:
        await asyncio.gather(*(traffic.stop() for _, traffic in runs))
    tallies = [traffic.tally(traffic.history(deployment.env["DATABASE_URL"])) for deployment, traffic in runs]
    for tally in tallies:
        report(tally.line)
    for tally in tallies:
        tally.check()
