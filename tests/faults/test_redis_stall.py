"""A Redis that stops answering (SIGSTOP): connections stay open, nothing comes back. It
either comes back after a few seconds (SIGCONT), or dies while stalled (SIGKILL) and is
started again empty on the same port."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from tests.faults.traffic import Traffic

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]
# Longer than a hub may wait for Redis before it answers publishers: a hub that gives up
# (503) must not deliver what Redis sends on once it answers again.
STALL_SECONDS = 3.0


async def test_redis_stalls(deploy, redis, report):
    deployment = deploy("redis-stall", redis.url)
    # Publishers as fast as they can: each has an update in flight when Redis stops answering.
    traffic = Traffic("redis-stall", [server.hub for server in deployment.servers], publishers=8, pace=0)
    try:
        await traffic.start()
        await traffic.answered(100)
        os.kill(redis.process.pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(STALL_SECONDS)  # the fault itself: nothing to await
        finally:
            os.kill(redis.process.pid, signal.SIGCONT)
        await traffic.answered(100, timeout=30)
        await traffic.finish()
    finally:
        await traffic.stop()
    traffic.judge(deployment.env["DATABASE_URL"], report)


async def test_redis_stalls_then_dies(deploy, redis, report):
    deployment = deploy("redis-stall-dies", redis.url, database="hubbub_dies")
    traffic = Traffic("redis-stall-dies", [server.hub for server in deployment.servers], publishers=8, pace=0)
    try:
        await traffic.start()
        await traffic.answered(100)
        os.kill(redis.process.pid, signal.SIGSTOP)
        await asyncio.sleep(STALL_SECONDS / 2)  # the fault itself: nothing to await
        await asyncio.to_thread(redis.stop)  # SIGKILL, while stopped
        await asyncio.to_thread(redis.start)
        await traffic.answered(100, timeout=30)
        await traffic.finish()
    finally:
        await traffic.stop()
    traffic.judge(deployment.env["DATABASE_URL"], report)
