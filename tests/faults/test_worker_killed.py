"""A worker killed (SIGKILL) after it stored an update and before it handed it to the channel
layer. The victim serves the demo with the suite's hook (tests/faults/asgi.py, through
tests/faults/settings.py): with ``HUBBUB_FAULT_KILL_AFTER_STORE=<update id>`` it kills itself
right after storing that update. A new worker takes its place, as a supervisor would start one."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from tests.faults.traffic import Traffic

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]
KILL_AFTER = "urn:faults:worker-killed:p0-40"


async def test_worker_killed_between_store_and_send(deploy, redis, report):
    hook = {"DJANGO_SETTINGS_MODULE": "tests.faults.settings", "HUBBUB_FAULT_KILL_AFTER_STORE": KILL_AFTER}
    deployment = deploy("worker-killed", redis.url, second_env=hook)
    victim = deployment.servers[1]
    traffic = Traffic("worker-killed", [server.hub for server in deployment.servers])
    traffic.route(KILL_AFTER, 1)
    killed = False
    try:
        await traffic.start()
        await traffic.until(lambda: any(p.id == KILL_AFTER and p.attempts for p in traffic.publications), 20)
        try:
            killed = await asyncio.to_thread(victim.process.wait, 5) == -9
        except subprocess.TimeoutExpired:
            pass
        if killed:
            traffic.hubs[1] = (await asyncio.to_thread(deployment.start, 1)).hub
        await traffic.answered(100)
        await traffic.finish()
    finally:
        await traffic.stop()
    tally = traffic.tally(traffic.history(deployment.env["DATABASE_URL"]))
    report(tally.line + ("" if killed else "; the server did not kill itself (hook not honoured)"))
    assert killed, f"the server did not kill itself after storing {KILL_AFTER}: HUBBUB_FAULT_KILL_AFTER_STORE"
    tally.check()
