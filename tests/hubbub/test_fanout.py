import asyncio

import pytest

from hubbub import _fanout as fanout
from hubbub._selectors import SelectorSet
from hubbub._subscriptions import Subscription
from hubbub._updates import Update


def subscription(*selectors, grants=()):
    return Subscription(SelectorSet(selectors), SelectorSet(grants), 100)


def test_topic_groups_are_valid_channel_layer_names():
    group = fanout.topic_group("https://example.com/books/{id}?x=ü")
    assert group.startswith("hubbub.t.") and len(group) < 100
    assert group.replace(".", "").replace("-", "").replace("_", "").isalnum()
    assert fanout.topic_group("a") != fanout.topic_group("b")


async def test_one_membership_per_topic_and_one_for_broad_selectors():
    hub = fanout.current()
    subs = [subscription("a"), subscription("a"), subscription("b", "https://x/{id}"), subscription("*")]
    for sub in subs:
        await hub.add(sub)
    layer = hub.layer
    assert hub.memberships == {fanout.topic_group("a"): 2, fanout.topic_group("b"): 1, fanout.ALL_GROUP: 2}
    topic_groups = {fanout.topic_group("a"), fanout.topic_group("b"), fanout.ALL_GROUP}
    assert set(layer.groups) == topic_groups | {fanout.CONTROL_GROUP}
    for sub in subs:
        await hub.remove(sub)
    assert set(layer.groups) == {fanout.CONTROL_GROUP} and not +hub.memberships


async def test_same_fanout_per_loop():
    assert fanout.current() is fanout.current()
    assert fanout.serving_loop() is not None


async def test_dispatch_encodes_once_and_dedupes_copies(monkeypatch):
    hub = fanout.current()
    subs = [subscription("a"), subscription("a", "b"), subscription("*")]
    for sub in subs:
        await hub.add(sub)
    encoded = []
    original = Update.encode
    monkeypatch.setattr(Update, "encode", lambda self: encoded.append(1) or original(self))
    update = Update.create(["a", "b"], "x")
    assert hub.dispatch(update, 1) == 3
    assert hub.dispatch(update, 1) == 0
    assert len(encoded) == 1
    assert all(len(sub._chunks) == 1 for sub in subs)


async def test_private_dispatch_checks_grants():
    hub = fanout.current()
    allowed, denied, broad_denied = subscription("a", grants=["a"]), subscription("a"), subscription("*")
    for sub in (allowed, denied, broad_denied):
        await hub.add(sub)
    assert hub.dispatch(Update.create("a", private=True), 2) == 1
    assert len(allowed._chunks) == 1 and not denied._chunks and not broad_denied._chunks


async def test_failed_group_join_leaves_no_membership(monkeypatch):
    hub = fanout.current()
    await hub.add(subscription("ok"))
    calls = []

    async def failing(group, channel):
        calls.append(group)
        if len(calls) == 2:
            raise ConnectionError("down")

    monkeypatch.setattr(hub.layer, "group_add", failing)
    with pytest.raises(ConnectionError):
        await hub.add(subscription("x", "y"))
    assert hub.memberships == {fanout.topic_group("ok"): 1}
    assert len(hub.subscriptions) == 1


async def test_lost_probe_disconnects_local_subscribers(settings, monkeypatch):
    settings.HUBBUB_HEARTBEAT_SECONDS = 0.05
    hub = fanout.current()
    sub = subscription("a")
    await hub.add(sub)
    await asyncio.sleep(0.2)
    assert not sub.closed, "probes come back through a working layer"

    async def swallowed(channel, message):
        pass

    monkeypatch.setattr(hub.layer, "send", swallowed)
    await asyncio.sleep(0.2)
    assert sub.closed and sub.reason == "channel layer unreachable"


async def test_failing_probe_disconnects_local_subscribers(settings, monkeypatch):
    settings.HUBBUB_HEARTBEAT_SECONDS = 0.05
    hub = fanout.current()
    sub = subscription("a")
    await hub.add(sub)

    async def broken(channel, message):
        raise ConnectionError("down")

    monkeypatch.setattr(hub.layer, "send", broken)
    await asyncio.sleep(0.2)
    assert sub.closed


async def test_close_user_closes_that_users_streams_only():
    hub = fanout.current()
    alices = [Subscription(SelectorSet(["a"]), SelectorSet(["a"]), 100, user="1") for _ in range(2)]
    bobs = Subscription(SelectorSet(["a"]), SelectorSet(["a"]), 100, user="2")
    by_token = subscription("a")
    for sub in [*alices, bobs, by_token]:
        await hub.add(sub)
    assert hub.close_user("1") == 2
    assert all(sub.closed for sub in alices) and not bobs.closed and not by_token.closed
    assert await alices[0].next() is None
    for sub in [*alices, bobs, by_token]:
        await hub.remove(sub)
    assert hub.by_user == {}


async def test_memberships_are_renewed_before_the_layer_forgets_them(settings):
    """Channels' in-memory layer drops a membership ``group_expiry`` seconds after it was made."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"group_expiry": 1}}
    }
    hub = fanout.current()
    sub = subscription("a")
    await hub.add(sub)
    await asyncio.sleep(2.5)
    update = Update.create("a", "still here")
    await hub.layer.group_send(fanout.topic_group("a"), fanout.message_for(update, 1))
    assert await asyncio.wait_for(sub.next(), 2) == update.encode()
    await hub.remove(sub)
