"""Redis killed (SIGKILL) and started again on the same port while updates flow."""

from __future__ import annotations

import asyncio

import pytest

from tests.faults.traffic import Traffic

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]


async def test_redis_restarted_mid_stream(deploy, redis, report):
    deployment = deploy("redis-restart", redis.url)
    traffic = Traffic("redis-restart", [server.hub for server in deployment.servers])
    try:
        await traffic.start()
        await traffic.answered(100)
        await asyncio.to_thread(redis.stop)  # kill -9
        await asyncio.to_thread(redis.start)  # the same port, empty
        await traffic.answered(150)
        await traffic.finish()
    finally:
        await traffic.stop()
    traffic.judge(deployment.env["DATABASE_URL"], report)
