"""A worker's link to the channel layer: what arrives, in order, and knowing at once when it broke."""

import asyncio
import contextlib
import os
import signal
import time
import uuid

import pytest
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

from hubbub import _layers as layers, _links as links
from tests.servers import RedisProcess, free_port

GROUPS = ["hubbub.test.all", "hubbub.test.control"]


class Recorder:
    """A link's two callbacks: the messages it delivered, and why it was lost (each report)."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[dict] = asyncio.Queue()
        self.lost: list[str] = []
        self.lost_event = asyncio.Event()

    def on_message(self, message: dict) -> None:
        self.messages.put_nowait(message)

    def on_lost(self, reason: str) -> None:
        self.lost.append(reason)
        self.lost_event.set()

    async def take(self, count: int, timeout: float = 5) -> list[dict]:
        return [await asyncio.wait_for(self.messages.get(), timeout) for _ in range(count)]

    async def wait_lost(self, timeout: float = 5) -> str:
        await asyncio.wait_for(self.lost_event.wait(), timeout)
        return self.lost[0]


def message(n: int) -> dict:
    return {"type": "hubbub.update", "seq": n, "update": ["id", ["t"], str(n), False, None, None]}


async def probe_came_back(link: links.Link, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while link._probe_out:
            await asyncio.sleep(0.01)


# Over any layer's public API (LayerLink): here channels' in-memory layer


async def open_layer_link(layer, recorder: Recorder, groups=GROUPS) -> links.LayerLink:
    link = links.LayerLink(layer, groups, recorder.on_message, recorder.on_lost)
    await link.open()
    return link


async def test_a_layer_link_delivers_its_groups_messages_in_order_and_not_its_probes():
    layer, recorder = InMemoryChannelLayer(), Recorder()
    link = await open_layer_link(layer, recorder)
    try:
        for n, group in enumerate([GROUPS[0], GROUPS[1], GROUPS[0]]):
            await layer.group_send(group, message(n))
        assert await recorder.take(3) == [message(0), message(1), message(2)]
        for _ in range(3):
            await link.probe()
            await probe_came_back(link)
        assert recorder.messages.empty() and recorder.lost == [] and link.alive
    finally:
        await link.close()
    assert not link.alive and layer.groups == {}, "closing leaves the groups"


async def test_a_layer_link_whose_receive_fails_is_lost_once():
    class Failing(InMemoryChannelLayer):
        async def receive(self, channel):
            raise ConnectionError("the layer went away")

    recorder = Recorder()
    link = await open_layer_link(Failing(), recorder)
    assert "ConnectionError" in await recorder.wait_lost()
    await link.lose("again")
    await link.probe()
    assert len(recorder.lost) == 1 and not link.alive


async def test_a_layer_link_cannot_open_on_a_layer_that_is_down():
    class Down(InMemoryChannelLayer):
        async def group_add(self, group, channel):
            raise ConnectionError("down")

    recorder = Recorder()
    link = links.LayerLink(Down(), GROUPS, recorder.on_message, recorder.on_lost)
    with pytest.raises(links.LinkUnavailable, match="down"):
        await link.open()
    assert not link.alive and recorder.lost == []


async def test_a_probe_not_back_by_the_next_one_ends_the_link():
    class Swallowing(InMemoryChannelLayer):
        async def group_send(self, group, message):
            if message.get("type") != links.PROBE_TYPE:
                await super().group_send(group, message)

    recorder = Recorder()
    link = await open_layer_link(Swallowing(), recorder)
    await link.probe()
    assert link.alive
    await link.probe()
    assert not link.alive and recorder.lost == ["the channel layer did not return a probe within a heartbeat"]


async def test_a_probe_the_layer_refuses_ends_the_link():
    class Refusing(InMemoryChannelLayer):
        async def group_send(self, group, message):
            raise ConnectionError("down")

    recorder = Recorder()
    link = await open_layer_link(Refusing(), recorder)
    await link.probe()
    assert not link.alive and "unreachable" in recorder.lost[0] and "down" in recorder.lost[0]


async def test_a_probe_the_layer_never_answers_ends_the_link_and_lets_go_of_the_send(monkeypatch):
    """A send stuck on a server that stopped answering would hold the layer's connection (and
    every publish behind it) until TCP gives up: the probe gives up after SEND_TIMEOUT."""
    released = asyncio.Event()

    class Hanging(InMemoryChannelLayer):
        async def group_send(self, group, message):
            try:
                await asyncio.Event().wait()
            finally:
                released.set()

    monkeypatch.setattr(links, "SEND_TIMEOUT", 0.1)
    recorder = Recorder()
    link = await open_layer_link(Hanging(), recorder)
    await asyncio.wait_for(link.probe(), 2)
    assert not link.alive and "TimeoutError" in recorder.lost[0]
    assert released.is_set()


def test_the_link_that_suits_the_layer():
    assert isinstance(
        links.open_link(RedisPubSubChannelLayer(hosts=["redis://h:1/0"]), GROUPS, print, print), links.RedisPubSubLink
    )
    assert isinstance(links.open_link(InMemoryChannelLayer(), GROUPS, print, print), links.LayerLink)
    assert isinstance(
        links.open_link(RedisChannelLayer(hosts=["redis://h:1/0"]), GROUPS, print, print), links.LayerLink
    )


# channels_redis' pub/sub layer (RedisPubSubLink): on Redis servers of the test's own


@pytest.fixture
async def redis_servers():
    """``start()`` a Redis of the test's own (several for shards); all stopped at the end."""
    started: list[RedisProcess] = []

    def start() -> RedisProcess:
        server = RedisProcess()
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process is not None and server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


@pytest.fixture
async def pubsub_layer():
    """``make(*urls)``: channels_redis' pub/sub layer on those servers; flushed at the end."""
    made: list[RedisPubSubChannelLayer] = []

    def make(*urls: str) -> RedisPubSubChannelLayer:
        layer = RedisPubSubChannelLayer(hosts=list(urls), prefix=f"hubbub-test-{uuid.uuid4().hex[:8]}")
        made.append(layer)
        return layer

    yield make
    for layer in made:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(layer.flush(), 3)


async def open_redis_link(layer, recorder: Recorder, groups=GROUPS) -> links.RedisPubSubLink:
    link = links.RedisPubSubLink(layer, groups, recorder.on_message, recorder.on_lost)
    await link.open()
    return link


@pytest.mark.redis
async def test_a_redis_link_receives_pipelined_messages_in_order(redis_servers, pubsub_layer):
    layer, recorder = pubsub_layer(redis_servers().url), Recorder()
    link = await open_redis_link(layer, recorder)
    try:
        await layers.group_send_pipelined(
            layer, [(GROUPS[0], message(0)), (GROUPS[1], message(1)), ("another", message(9)), (GROUPS[0], message(2))]
        )
        await layer.group_send(GROUPS[0], message(3))
        assert await recorder.take(4) == [message(0), message(1), message(2), message(3)]
        await link.probe()
        await probe_came_back(link)
        assert recorder.messages.empty() and link.alive
    finally:
        await link.close()


@pytest.mark.redis
async def test_a_redis_link_reports_a_killed_server_at_once(redis_servers, pubsub_layer):
    redis = redis_servers()
    layer, recorder = pubsub_layer(redis.url), Recorder()
    link = await open_redis_link(layer, recorder)
    started = time.monotonic()
    redis.stop()  # SIGKILL
    assert "broke" in await recorder.wait_lost(timeout=5) or "closed" in recorder.lost[0]
    assert time.monotonic() - started < 3, "no heartbeat needed: the read fails"
    assert not link.alive and len(recorder.lost) == 1


@pytest.mark.redis
async def test_a_redis_link_does_not_reconnect_behind_the_fanouts_back(redis_servers, pubsub_layer):
    """redis-py would reconnect and subscribe again, and what was published meanwhile would be lost unnoticed."""
    redis = redis_servers()
    layer, recorder = pubsub_layer(redis.url), Recorder()
    link = await open_redis_link(layer, recorder)
    redis.stop()
    redis.start()  # the same port, at once
    await recorder.wait_lost(timeout=5)
    for _ in range(50):  # the layer's own connection reconnects; the link's does not
        try:
            await layer.group_send(GROUPS[0], message(1))
            break
        except Exception:
            await asyncio.sleep(0.1)
    await asyncio.sleep(0.2)
    assert recorder.messages.empty() and not link.alive and len(recorder.lost) == 1


@pytest.mark.redis
async def test_a_redis_link_cannot_open_on_a_dead_server(pubsub_layer):
    recorder = Recorder()
    link = links.RedisPubSubLink(
        pubsub_layer(f"redis://127.0.0.1:{free_port()}/0"), GROUPS, recorder.on_message, recorder.on_lost
    )
    with pytest.raises(links.LinkUnavailable):
        await asyncio.wait_for(link.open(), 5)
    assert not link.alive and recorder.lost == []


@pytest.mark.redis
async def test_a_stalled_redis_is_noticed_by_the_probe(redis_servers, pubsub_layer):
    """A server that stops answering (SIGSTOP): reads just wait; the probe does not come back."""
    redis = redis_servers()
    layer, recorder = pubsub_layer(redis.url), Recorder()
    link = await open_redis_link(layer, recorder)
    await link.probe()
    await probe_came_back(link)
    os.kill(redis.process.pid, signal.SIGSTOP)
    try:
        hung = asyncio.ensure_future(link.probe())  # the layer's send waits for the stalled server
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await link.probe()  # the next heartbeat's
        assert recorder.lost == ["the channel layer did not return a probe within a heartbeat"]
        assert time.monotonic() - started < 3, "closing a link to a stalled server does not hang"
    finally:
        os.kill(redis.process.pid, signal.SIGCONT)
    await asyncio.wait_for(hung, 5)
    assert len(recorder.lost) == 1


@pytest.mark.redis
async def test_a_redis_link_over_shards_reads_them_all_and_is_lost_with_any(redis_servers, pubsub_layer):
    one, two = redis_servers(), redis_servers()
    layer, recorder = pubsub_layer(one.url, two.url), Recorder()
    loop_layer = layer._get_layer()
    by_shard: dict[int, list[str]] = {0: [], 1: []}
    for n in range(64):  # groups on both servers (a group's server is a hash of its name)
        group = f"hubbub.test.g{n}"
        shard = loop_layer._shards.index(loop_layer._get_shard(loop_layer._get_group_channel_name(group)))
        by_shard[shard].append(group)
    groups = by_shard[0][:4] + by_shard[1][:4]
    assert len(groups) == 8
    link = await open_redis_link(layer, recorder, groups)
    for n, group in enumerate(groups):
        await layer.group_send(group, message(n))
    assert sorted(m["seq"] for m in await recorder.take(8)) == list(range(8))
    two.stop()
    await recorder.wait_lost(timeout=5)
    assert not link.alive and len(recorder.lost) == 1
