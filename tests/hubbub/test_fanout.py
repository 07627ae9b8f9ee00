"""The per-worker fan-out: one link to the channel layer, every update once and in history
order, gaps filled from the history, and every subscriber let go when the link breaks."""

import asyncio
import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError

import hubbub
from hubbub import _conf as conf, _fanout as fanout, _history as history, _layers as layers, _publishing as publishing
from hubbub._selectors import SelectorSet
from hubbub._subscriptions import Subscription
from hubbub._updates import Update
from hubbub.exceptions import HistoryUnavailable, LayerUnavailable
from hubbub.testing import subscribe
from tests.servers import RedisProcess

pytestmark = pytest.mark.django_db(transaction=True)  # the fan-out reads the history's newest number


def subscription(*selectors, grants=(), user=None):
    return Subscription(SelectorSet(selectors), SelectorSet(grants), 100, user=user)


async def closed(sub: Subscription, timeout: float = 5) -> str:
    """Wait until ``sub`` is closed (dropping what it received); returns why."""
    async with asyncio.timeout(timeout):
        while await sub.next() is not None:
            pass
    return sub.reason


def stored_but_not_sent(*updates: Update):
    """Store as a publisher killed between storing and sending would have left them."""
    return sync_to_async(history.store)(list(updates))


# Groups and the link


def test_the_hubs_groups_carry_the_deployment_prefix(settings):
    assert fanout.all_group() == layers.group("all") == f"hubbub.{conf.get('HUBBUB_REDIS_PREFIX')}.all"
    settings.HUBBUB_REDIS_PREFIX = "site-a"
    assert (fanout.all_group(), fanout.control_group()) == ("hubbub.site-a.all", "hubbub.site-a.control")


async def test_same_fanout_per_loop():
    assert fanout.current() is fanout.current()
    assert fanout.serving_loop() is not None


async def test_one_link_per_worker_whatever_the_subscribers():
    """Every worker receives every update through one group: no membership per topic."""
    hub = fanout.current()
    subs = [subscription("a"), subscription("a"), subscription("b", "https://x/{id}"), subscription("*")]
    for sub in subs:
        await hub.add(sub)
    link = hub.link
    assert link is not None and link.alive
    groups = hub.layer.groups
    assert set(groups) == {fanout.all_group(), fanout.control_group(), link.probe_group}
    assert all(len(channels) == 1 for channels in groups.values())
    for sub in subs:
        await hub.remove(sub)
    assert hub.subscriptions == set() and hub.by_topic == {} and hub.by_template == {} and hub.everything == set()
    hub._heartbeat.cancel()
    hub._beat()  # a heartbeat with nobody left: the worker stops receiving
    assert hub.link is None
    for _ in range(100):
        if not hub.layer.groups:
            break
        await asyncio.sleep(0.01)
    assert hub.layer.groups == {} and not link.alive


async def test_the_next_subscriber_after_the_link_closed_opens_another():
    hub = fanout.current()
    await hub.add(first := subscription("a"))
    await hub.remove(first)
    hub._heartbeat.cancel()
    hub._beat()
    await hub.add(second := subscription("a"))
    assert hub.link is not None and hub.link.alive
    update_id = await hubbub.apublish("a", "after")
    assert Update.create("a", "after", id=update_id).encode() in (await asyncio.wait_for(second.next(), 5))


# Delivering: each subscriber that wants an update, once; encoded once


async def test_dispatch_reaches_exact_wildcard_and_template_subscribers_once_each(monkeypatch):
    hub = fanout.current()
    wanting = [
        subscription("a"),
        subscription("a", "b"),
        subscription("*"),
        subscription("/rooms/{id}"),
        subscription("/rooms/{id}", "a"),
    ]
    not_wanting = [subscription("c"), subscription("/users/{id}")]
    for sub in wanting + not_wanting:
        await hub.add(sub)
    encoded = []
    original = Update.encode
    monkeypatch.setattr(Update, "encode", lambda self: encoded.append(1) or original(self))
    update = Update.create(["a", "/rooms/1", "b"], "x")
    assert hub.dispatch(update, 1) == 5
    assert len(encoded) == 1
    assert [len(sub._chunks) for sub in wanting] == [1] * 5
    assert [len(sub._chunks) for sub in not_wanting] == [0, 0]


async def test_a_template_shared_by_many_subscribers_is_matched_once_per_update():
    """Issue #10, 7: each subscriber's templates were matched against every update."""
    hub = fanout.current()
    rooms = [subscription("/rooms/{id}") for _ in range(200)]
    users = [subscription("/users/{id}", "/rooms/{id}") for _ in range(100)]
    for sub in rooms + users:
        await hub.add(sub)
    assert set(hub.by_template) == {"/rooms/{id}", "/users/{id}"}
    calls = []
    originals = {}
    for template, (pattern, _) in hub.by_template.items():
        match = originals[template] = pattern.fullmatch
        pattern.fullmatch = lambda topic, match=match, template=template: calls.append(template) or match(topic)
    try:
        assert hub.dispatch(Update.create("/rooms/1"), 1) == 300
        assert sorted(calls) == ["/rooms/{id}", "/users/{id}"]
    finally:
        for template, (pattern, _) in hub.by_template.items():
            pattern.fullmatch = originals[template]  # the compiled template is shared with the whole process
    for sub in rooms + users:
        await hub.remove(sub)
    assert hub.by_template == {}


async def test_private_dispatch_checks_grants():
    hub = fanout.current()
    allowed, denied, broad_denied = subscription("a", grants=["a"]), subscription("a"), subscription("*")
    templated = subscription("/a/{id}", grants=["/a/{id}"])
    for sub in (allowed, denied, broad_denied, templated):
        await hub.add(sub)
    assert hub.dispatch(Update.create("a", private=True), 2) == 1
    assert hub.dispatch(Update.create("/a/1", private=True), 3) == 1
    assert len(allowed._chunks) == 1 and len(templated._chunks) == 1 and not denied._chunks and not broad_denied._chunks


async def test_dispatch_delivers_what_it_is_given_and_receiving_drops_copies():
    """Copies (a resend, a retried pipeline) are dropped where messages arrive, by sequence number."""
    hub = fanout.current()
    sub = subscription("a")
    await hub.add(sub)
    update = Update.create("a", "x")
    assert hub.dispatch(update, 1) == 1 and hub.dispatch(update, 1) == 1
    assert len(sub._chunks) == 2
    sub._chunks.clear()
    seq = hub.last_seq + 1
    for _ in range(3):
        [message] = fanout.messages_for(history.Batch([(seq, update)]))
        hub._receive(message)
    assert len(sub._chunks) == 1 and hub.last_seq == seq


def test_a_stored_batch_is_one_layer_message_within_a_size_bound(monkeypatch):
    """Every worker reads and decodes each layer message: one per stored batch, not one per update."""
    pairs = [(n, Update.create("t", "x" * 10, id=str(n))) for n in range(1, 8)]
    [message] = fanout.messages_for(history.Batch(pairs, after=0, upto=9))
    assert message == {
        "type": fanout.MESSAGE_TYPE,
        "after": 0,
        "upto": 9,
        "updates": [[n, u.as_message()] for n, u in pairs],
    }
    monkeypatch.setattr(fanout, "MESSAGE_DATA_BYTES", 25)
    messages = fanout.messages_for(history.Batch(pairs, after=0, upto=9))
    assert [[n for n, _ in m["updates"]] for m in messages] == [[1, 2], [3, 4], [5, 6], [7]]
    assert [(m["after"], m["upto"]) for m in messages] == [(0, 2), (2, 4), (4, 6), (6, 9)]  # each follows on
    monkeypatch.setattr(fanout, "MESSAGE_DATA_BYTES", 5)  # an update larger than the bound still goes, alone
    assert [len(m["updates"]) for m in fanout.messages_for(history.Batch(pairs))] == [1] * 7


def receive(hub: fanout.Fanout, batch: list[tuple[int, Update]], **covers: int) -> None:
    for message in fanout.messages_for(history.Batch(batch, **covers)):
        hub._receive(message)


def ids(sub: Subscription) -> list[bytes]:
    return [chunk.split(b"\n")[0][4:] for chunk in sub._chunks]


async def test_batches_received_out_of_order_are_delivered_in_order_without_asking_the_history(monkeypatch):
    """Workers send after committing, concurrently: a batch may arrive before one stored ahead of it.
    It is held until that one arrives; the history is asked only for what never comes."""
    hub = fanout.current()
    sub = subscription("t")
    await hub.add(sub)
    reads = []
    monkeypatch.setattr(history, "between", lambda *args, **kwargs: reads.append(args) or [])
    first = hub.last_seq + 1
    updates = {first + n: Update.create("t", str(n), id=f"o{n}") for n in range(5)}
    for batch in ([first + 3, first + 4], [first + 2], [first, first + 1]):
        receive(hub, [(seq, updates[seq]) for seq in batch])
        if batch[0] != first:
            assert not sub._chunks and hub.held
    assert ids(sub) == [b"o%d" % n for n in range(5)]
    assert hub.last_seq == first + 4 and not hub.held
    await asyncio.sleep(fanout.GAP_WAIT * 2)
    assert reads == []


async def test_numbers_an_insert_drew_but_did_not_store_hold_nothing_up(monkeypatch):
    """An insert whose rows include ids stored already (retries) draws numbers it does not
    store, before, between and after the ones it does: its message covers them all."""
    hub = fanout.current()
    sub = subscription("t")
    await hub.add(sub)
    reads = []
    monkeypatch.setattr(history, "between", lambda *args, **kwargs: reads.append(args) or [])
    start = hub.last_seq
    receive(
        hub,
        [(start + 2, Update.create("t", id="d2")), (start + 4, Update.create("t", id="d4"))],
        after=start,
        upto=start + 5,
    )
    receive(hub, [(start + 6, Update.create("t", id="d6"))], after=start + 5)
    assert ids(sub) == [b"d2", b"d4", b"d6"] and hub.last_seq == start + 6 and not hub.held
    await asyncio.sleep(fanout.GAP_WAIT * 2)
    assert reads == []


async def test_what_never_arrives_is_read_from_the_history_after_a_short_wait():
    hub = fanout.current()
    sub = subscription("t")
    await hub.add(sub)
    [missing] = await stored_but_not_sent(Update.create("t", "stored, never sent", id="m1"))
    started = time.monotonic()
    receive(hub, [(missing + 1, Update.create("t", "after", id="m2"))])
    assert not sub._chunks  # held: the missing one may be on its way
    async with asyncio.timeout(2):
        while len(sub._chunks) < 2:
            await asyncio.sleep(0.005)
    assert time.monotonic() - started >= fanout.GAP_WAIT
    assert [chunk.split(b"\n")[0] for chunk in sub._chunks] == [b"id: m1", b"id: m2"]
    assert hub.last_seq == missing + 1 and not hub.held


# Exactly once, in history order: sequence numbers, gaps filled from the history


async def test_an_update_stored_but_never_sent_is_delivered_before_the_next_one():
    """Issue #10, 4: a worker killed between storing and sending left an update that no live
    subscriber ever got."""
    async with subscribe("t") as page:
        await stored_but_not_sent(Update.create("t", "lost 1", id="lost-1"), Update.create("t", "lost 2", id="lost-2"))
        await stored_but_not_sent(Update.create("other", "not for this page"))
        next_id = await hubbub.apublish("t", "next")
        assert [(e.id, e.data) for e in await page.take(3)] == [
            ("lost-1", "lost 1"),
            ("lost-2", "lost 2"),
            (next_id, "next"),
        ]
        assert await page.silent(0.3)


async def test_an_update_stored_but_never_sent_reaches_idle_subscribers_at_the_next_heartbeat(settings):
    settings.HUBBUB_HEARTBEAT_SECONDS = 0.1
    async with subscribe("t") as page:
        await stored_but_not_sent(Update.create("t", "orphan", id="orphan"))
        event = await page.next(timeout=3)
        assert (event.id, event.data) == ("orphan", "orphan")
        assert await page.silent(0.5)


async def test_a_long_gap_is_filled_in_batches_in_order(monkeypatch):
    between, reads = history.between, []

    def in_threes(after, before, limit=3):
        reads.append(after)
        return between(after, before, limit)

    monkeypatch.setattr(history, "BATCH", 3)
    monkeypatch.setattr(history, "between", in_threes)
    async with subscribe("t") as page:
        await stored_but_not_sent(*(Update.create("t", str(n)) for n in range(7)))
        await hubbub.apublish("t", "7")
        assert [e.data for e in await page.take(8)] == [str(n) for n in range(8)]
        assert await page.silent(0.3)
    assert len(reads) == 3  # 3 + 3 + 1


async def test_copies_sent_again_are_delivered_once(monkeypatch):
    async with subscribe("t") as page:
        batch = []
        send = publishing.send

        async def send_twice(pairs):
            batch.extend(pairs)
            await send(pairs)
            await send(pairs)

        monkeypatch.setattr(publishing, "send", send_twice)
        ids = await asyncio.gather(*(hubbub.apublish("t", str(n)) for n in range(3)))
        await send(batch)  # and a late resend
        assert [e.id for e in await page.take(3)] == ids
        assert await page.silent(0.3)


async def test_updates_stored_before_subscribing_are_not_sent_live():
    """The fan-out starts from the newest number in the history: older ones are for resuming."""
    await stored_but_not_sent(Update.create("t", "old"))
    async with subscribe("t") as page:
        new_id = await hubbub.apublish("t", "new")
        assert [e.id for e in await page.take(1)] == [new_id]
        assert await page.silent(0.3)
    async with subscribe("t", last_event_id="earliest") as page:
        assert [e.data for e in await page.take(2)] == ["old", "new"]


async def test_when_the_history_cannot_fill_a_gap_the_subscribers_are_closed(monkeypatch):
    hub = fanout.current()
    sub = subscription("t")
    await hub.add(sub)
    await stored_but_not_sent(Update.create("t", "lost"))

    def unreachable(*args):
        raise OperationalError("the database went away")

    monkeypatch.setattr(history, "between", unreachable)
    await hubbub.apublish("t", "next")
    assert await closed(sub) == "update history unreachable"


async def test_subscribing_while_the_history_is_unreachable_is_503(monkeypatch):
    def unreachable():
        raise OperationalError("the database went away")

    monkeypatch.setattr(history, "newest_seq", unreachable)
    with pytest.raises(HistoryUnavailable):
        await fanout.current().add(subscription("t"))
    async with subscribe("t") as page:
        assert page.status == 503 and "history" in page.reason


# A broken link: every local subscriber closed at once, subscribing 503 until it is back


async def test_a_probe_not_back_within_a_heartbeat_closes_every_subscriber(settings, monkeypatch):
    settings.HUBBUB_HEARTBEAT_SECONDS = 0.05
    hub = fanout.current()
    subs = [subscription("a"), subscription("*"), subscription("/b/{id}")]
    for sub in subs:
        await hub.add(sub)
    await asyncio.sleep(0.3)
    assert not any(sub.closed for sub in subs), "probes come back through a working layer"
    original = hub.layer.group_send

    async def swallowed(group, message):
        if group != hub.link.probe_group:
            await original(group, message)

    monkeypatch.setattr(hub.layer, "group_send", swallowed)
    for sub in subs:
        assert await closed(sub, timeout=2) == "channel layer unreachable"
    assert hub.link is None


async def test_a_failing_probe_closes_every_subscriber(settings, monkeypatch):
    settings.HUBBUB_HEARTBEAT_SECONDS = 0.05
    hub = fanout.current()
    sub = subscription("a")
    await hub.add(sub)

    async def broken(group, message):
        raise ConnectionError("down")

    monkeypatch.setattr(hub.layer, "group_send", broken)
    assert await closed(sub, timeout=2) == "channel layer unreachable"


async def test_while_the_layer_is_down_subscribing_is_503_and_works_again_after(monkeypatch):
    hub = fanout.current()
    layer = hub.layer

    async def broken(group, channel):
        raise ConnectionError("down")

    monkeypatch.setattr(layer, "group_add", broken)
    with pytest.raises(LayerUnavailable, match="channel layer is unreachable"):
        await hub.add(subscription("t"))
    assert hub.subscriptions == set() and hub.link is None
    async with subscribe("t") as page:
        assert page.status == 503 and "channel layer is unreachable" in page.reason
    monkeypatch.undo()
    async with subscribe("t") as page:
        assert page.status == 200
        update_id = await hubbub.apublish("t", "back")
        assert (await page.next()).id == update_id


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


async def test_reauthorize_reaches_the_fanout_through_the_control_group():
    hub = fanout.current()
    alice = Subscription(SelectorSet(["a"]), SelectorSet(["a"]), 100, user="1")
    await hub.add(alice)
    await hub.layer.group_send(fanout.control_group(), {"type": fanout.REAUTHORIZE_TYPE, "user": "1"})
    assert await closed(alice) == "the user's authorization changed"


async def test_memberships_are_renewed_before_the_layer_forgets_them(settings):
    """Channels' in-memory layer drops a membership ``group_expiry`` seconds after it was made."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"group_expiry": 1}}
    }
    hub = fanout.current()
    sub = subscription("a")
    await hub.add(sub)
    await asyncio.sleep(2.5)
    update_id = await hubbub.apublish("a", "still here")
    assert await asyncio.wait_for(sub.next(), 2) == Update.create("a", "still here", id=update_id).encode()
    await hub.remove(sub)


# On Redis (channels_redis' pub/sub layer), a server of the test's own that it kills


@pytest.fixture
async def own_redis(settings, monkeypatch):
    """A Redis of this test's own as the channel layer, a long heartbeat (what is noticed
    within a second is not the probe's doing) and quick resends."""
    redis = RedisProcess()
    redis.start()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [redis.url], "prefix": f"hubbub-test-{uuid.uuid4().hex[:8]}"},
        }
    }
    settings.HUBBUB_HEARTBEAT_SECONDS = 30
    monkeypatch.setattr(publishing, "_RESEND_DELAYS", (0.05, 0.1, 0.2, 0.4), raising=False)
    try:
        yield redis
    finally:
        hub = fanout._fanouts.get(asyncio.get_running_loop())
        if hub is not None and hub.link is not None:
            await hub.link.close()
        try:
            await asyncio.wait_for(layers.channel_layer().flush(), 5)
        finally:
            redis.stop()


@pytest.mark.redis
async def test_redis_killed_mid_stream_closes_subscribers_at_once_and_resuming_loses_and_repeats_nothing(own_redis):
    """Issue #10, 2: after a Redis restart the subscribers stayed connected, missed what was
    published meanwhile, and could not get it back."""
    async with subscribe("t") as page, subscribe("*") as everything:
        before = await hubbub.apublish("t", "before")
        assert (await page.next()).id == before and (await everything.next()).id == before
        started = time.monotonic()
        await asyncio.to_thread(own_redis.stop)  # SIGKILL
        for stream in (page, everything):
            with pytest.raises(EOFError):
                await stream.next(timeout=5)
        assert time.monotonic() - started < 5, "well within the heartbeat (30 s)"

        during = [await hubbub.apublish("t", f"during {n}") for n in range(3)]  # stored: acknowledged
        async with subscribe("t") as refused:
            assert refused.status == 503 and "channel layer is unreachable" in refused.reason

        await asyncio.to_thread(own_redis.start)
        async with subscribe("t", last_event_id=before) as resumed:
            assert resumed.status == 200
            assert [e.id for e in await resumed.take(3)] == during
            pairs = await sync_to_async(history.batch_after)(await sync_to_async(history.position)(before))
            await publishing.send(pairs)  # a late resend of them: copies
            after = await hubbub.apublish("t", "after")
            assert [e.id for e in await resumed.take(1)] == [after]
            assert await resumed.silent(1)


@pytest.mark.redis
async def test_redis_restarted_between_two_updates_is_noticed(own_redis):
    """Killed and started again at once: the link does not reconnect behind the fan-out's back."""
    hub = fanout.current()
    sub = subscription("t")
    await hub.add(sub)
    first = await hubbub.apublish("t", "first")
    assert Update.create("t", "first", id=first).encode() in await asyncio.wait_for(sub.next(), 5)
    await asyncio.to_thread(own_redis.stop)
    await asyncio.to_thread(own_redis.start)
    assert await closed(sub, timeout=5) == "channel layer unreachable"
    second = subscription("t")
    await hub.add(second)
    update_id = await hubbub.apublish("t", "second")
    assert Update.create("t", "second", id=update_id).encode() in await asyncio.wait_for(second.next(), 5)
