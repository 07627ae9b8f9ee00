import asyncio
import logging
import threading
import uuid
from collections.abc import Callable

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

import hubbub
from hubbub import _fanout as fanout, _history as history, _layers as layers, _publishing as publishing
from hubbub._updates import Update
from hubbub.exceptions import InvalidUpdate
from hubbub.models import StoredUpdate
from hubbub.testing import subscribe
from tests.hubbub.asgi import publish
from tests.servers import REDIS_URL, free_port


@pytest.mark.django_db(transaction=True)
def test_publish_from_sync_code_stores_and_returns_the_id():
    update_id = hubbub.publish("t", "data", type="x")
    row = StoredUpdate.objects.get()
    assert (row.uid, row.topics, row.data, row.type) == (update_id, ["t"], "data", "x")


@pytest.mark.django_db(transaction=True)
def test_publish_in_a_transaction_waits_for_commit():
    with transaction.atomic():
        update_id = hubbub.publish("t", "later")
        assert not StoredUpdate.objects.exists()
    assert StoredUpdate.objects.get().uid == update_id


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_publishes_nothing():
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            hubbub.publish("t", "never")
            raise RuntimeError
    assert not StoredUpdate.objects.exists()


def test_invalid_update_raises_before_anything_happens():
    with pytest.raises(InvalidUpdate):
        hubbub.publish("t", id="#x")


@pytest.mark.django_db(transaction=True)
async def test_apublish_reaches_subscribers():
    async with subscribe("t") as stream:
        update_id = await hubbub.apublish("t", "async")
        event = await stream.next()
        assert (event.id, event.data) == (update_id, "async")


@pytest.mark.django_db(transaction=True)
async def test_publish_from_a_sync_view_thread_and_a_plain_thread_reaches_subscribers():
    async with subscribe("t") as stream:
        await sync_to_async(hubbub.publish)("t", "from a sync view")
        results = []
        thread = threading.Thread(target=lambda: results.append(hubbub.publish("t", "from a thread")))
        await sync_to_async(thread.start)()
        await sync_to_async(thread.join)()
        events = await stream.take(2)
        assert [e.data for e in events] == ["from a sync view", "from a thread"]
        assert events[1].id == results[0]


@pytest.mark.django_db(transaction=True)
async def test_sync_publish_from_async_code_is_refused():
    with pytest.raises(RuntimeError):
        hubbub.publish("t", "wrong")


@pytest.fixture
def quick_resend(monkeypatch):
    """The background resend's delays, shortened; returns them."""
    delays = (0.05, 0.1, 0.2, 0.4, 0.8)
    monkeypatch.setattr(publishing, "_RESEND_DELAYS", delays, raising=False)
    return delays


def failing_sends(monkeypatch, layer, fail: Callable[[int], bool]):
    """Make the layer refuse the n-th update message when ``fail(n)`` (counting from 0;
    probes and other messages go through); returns the messages it took."""
    original = layer.group_send
    taken: list[dict] = []
    attempts = []

    async def group_send(group, message):
        if message.get("type") == fanout.MESSAGE_TYPE:  # a stored batch
            attempts.append(message)
            if fail(len(attempts) - 1):
                raise ConnectionError("redis went away")
            taken.append(message)
        await original(group, message)

    monkeypatch.setattr(layer, "group_send", group_send)
    return taken


def publishing_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "hubbub._publishing" and r.levelno == logging.WARNING]


@pytest.mark.django_db(transaction=True)
async def test_a_channel_layer_failure_still_publishes_and_the_update_is_sent_again(monkeypatch, quick_resend, caplog):
    """Stored is acknowledged: the publisher is answered with the id (it used to be told 503
    "not published", retried, and the update was delivered twice)."""
    async with subscribe("t") as page:
        failing_sends(monkeypatch, layers.channel_layer(), lambda n: n == 0)
        update_id = await hubbub.apublish("t", "kept")
        assert await StoredUpdate.objects.filter(uid=update_id).aexists()
        event = await page.next(timeout=5)
        assert (event.id, event.data) == (update_id, "kept")
        assert await page.silent(0.5)
    [warning] = publishing_warnings(caplog)
    assert "did not take" in warning and "stored" in warning and "ConnectionError" in warning
    assert "\n" not in warning and not [r for r in caplog.records if r.exc_info], "one line, no traceback"


@pytest.mark.django_db(transaction=True)
async def test_while_the_layer_is_down_publishing_goes_on_and_the_hub_gives_up_resending_in_the_end(
    monkeypatch, quick_resend, caplog
):
    layer = layers.channel_layer()
    taken = failing_sends(monkeypatch, layer, lambda n: True)
    async with subscribe("t"):  # this process serves: a sync publisher sends through its loop
        ids = [await hubbub.apublish("t", str(n)) for n in range(2)]
        ids.append(await sync_to_async(hubbub.publish)("t", "from a sync view"))
    stored = await sync_to_async(lambda: list(StoredUpdate.objects.order_by("seq").values_list("uid", flat=True)))()
    assert stored == ids
    assert taken == []
    for _ in range(100):  # the last resend of each batch: after sum(quick_resend) seconds
        if len([w for w in publishing_warnings(caplog) if "gave up" in w]) == 3:
            break
        await asyncio.sleep(0.05)
    warnings = publishing_warnings(caplog)
    assert len([w for w in warnings if "did not take" in w]) == 3, warnings  # once per batch, not per try
    assert len([w for w in warnings if "gave up" in w]) == 3, warnings


@pytest.mark.django_db(transaction=True)
async def test_a_stalled_layer_does_not_hold_the_publisher(monkeypatch, quick_resend, caplog):
    monkeypatch.setattr(publishing, "SEND_TIMEOUT", 0.2, raising=False)
    layer = layers.channel_layer()
    stalled = asyncio.Event()

    async def never(group, message):
        await stalled.wait()

    monkeypatch.setattr(layer, "group_send", never)
    update_id = await asyncio.wait_for(hubbub.apublish("t", "stored"), timeout=5)
    assert await StoredUpdate.objects.filter(uid=update_id).aexists()
    assert any("TimeoutError" in w for w in publishing_warnings(caplog))


@pytest.mark.django_db(transaction=True)
async def test_a_batch_that_the_layer_takes_partly_reaches_subscribers_once_in_order(monkeypatch, quick_resend):
    async with subscribe("t") as page:
        failing_sends(monkeypatch, layers.channel_layer(), lambda n: n in (2, 3))
        ids = await asyncio.gather(*(hubbub.apublish("t", str(n)) for n in range(4)))
        events = await page.take(4)
        assert [e.id for e in events] == ids and [e.data for e in events] == ["0", "1", "2", "3"]
        assert await page.silent(0.5)
    stored = await sync_to_async(lambda: list(StoredUpdate.objects.order_by("seq").values_list("uid", flat=True)))()
    assert stored == ids


# Idempotent publishing: an id already stored is a retry (same content) or a conflict


@pytest.mark.django_db(transaction=True)
async def test_publishing_an_id_again_is_answered_with_it_and_stores_and_delivers_nothing_new():
    async with subscribe("t") as page:
        first = await hubbub.apublish("t", "once", id="urn:retry", type="note")
        again = await hubbub.apublish("t", "once", id="urn:retry", type="note")
        from_sync = await sync_to_async(hubbub.publish)("t", "once", id="urn:retry", type="note")
        assert first == again == from_sync == "urn:retry"
        assert [(e.id, e.data) for e in await page.take(1)] == [("urn:retry", "once")]
        assert await page.silent(0.5)
    assert await StoredUpdate.objects.filter(uid="urn:retry").acount() == 1


@pytest.mark.django_db(transaction=True)
async def test_publishing_an_id_again_with_other_content_is_a_conflict():
    async with subscribe("t", "u") as page:
        await hubbub.apublish("t", "first", id="urn:taken")
        with pytest.raises(hubbub.HubbubError, match="urn:taken") as raised:
            await hubbub.apublish("t", "second", id="urn:taken")
        assert isinstance(raised.value, hubbub.UpdateConflict) and raised.value.status == 409
        with pytest.raises(hubbub.HubbubError) as raised:
            await sync_to_async(hubbub.publish)("u", "first", id="urn:taken")
        assert isinstance(raised.value, hubbub.UpdateConflict)
        assert [e.data for e in await page.take(1)] == ["first"]
        assert await page.silent(0.5)
    row = await StoredUpdate.objects.aget()
    assert (row.uid, row.topics, row.data) == ("urn:taken", ["t"], "first")


@pytest.mark.django_db(transaction=True)
async def test_the_same_id_published_at_once_is_stored_and_delivered_once():
    """Concurrent publishes are stored in one batch: a batch may hold the same id twice."""
    async with subscribe("t") as page:
        results = await asyncio.gather(
            *(hubbub.apublish("t", "same", id="urn:twice") for _ in range(3)),
            hubbub.apublish("t", "other", id="urn:twice"),
            hubbub.apublish("t", "another update"),
            return_exceptions=True,
        )
        assert [e.data for e in await page.take(2)] == ["same", "another update"]
        assert await page.silent(0.5)
    assert await StoredUpdate.objects.filter(uid="urn:twice").acount() == 1
    assert results[:3] == ["urn:twice"] * 3
    assert isinstance(results[3], hubbub.UpdateConflict)


@pytest.mark.django_db(transaction=True)
async def test_over_http_a_retry_is_200_with_its_id_and_other_content_409():
    async with subscribe("t") as page:
        assert await publish(topic="t", data="d", id="urn:http") == (200, b"urn:http")
        assert await publish(topic="t", data="d", id="urn:http") == (200, b"urn:http")
        status, body = await publish(topic="t", data="changed", id="urn:http")
        assert status == 409 and b"urn:http" in body and b"\n" not in body
        assert [e.data for e in await page.take(1)] == ["d"]
        assert await page.silent(0.5)
    assert await StoredUpdate.objects.filter(uid="urn:http").acount() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (hubbub.HistoryUnavailable("the update history is unreachable: connection refused"), 503),
        (hubbub.OutcomeUnknown("cannot tell whether it kept update u: publish again"), 504),
    ],
)
async def test_a_store_that_failed_is_answered_for_what_it_is(monkeypatch, failure, status):
    """503: nothing was stored, retrying is safe; 504: nobody can tell, retrying with the same id is safe."""

    async def failing(updates, send):
        raise failure

    monkeypatch.setattr(history, "astore", failing)
    response = await publish(topic="t", data="d", id="u")
    assert response == (status, str(failure).encode())


@pytest.mark.django_db(transaction=True)
async def test_resuming_after_a_republished_id_skips_nothing():
    """Issue #10, 5: the id was stored twice, and resuming after it skipped what lay between."""
    await hubbub.apublish("t", "x", id="urn:dup")
    between = [await hubbub.apublish("t", str(n)) for n in range(2)]
    assert await hubbub.apublish("t", "x", id="urn:dup") == "urn:dup"
    async with subscribe("t", last_event_id="urn:dup") as page:
        assert [e.id for e in await page.take(2)] == between
        assert await page.silent(0.3)


@pytest.mark.django_db(transaction=True)
def test_pruning_runs_in_the_background(settings, monkeypatch):
    monkeypatch.setattr(history, "_stored_since_prune", 0)
    settings.HUBBUB_PRUNE_EVERY = 5
    settings.HUBBUB_HISTORY_MAX_COUNT = 2
    for n in range(5):
        hubbub.publish("t", str(n))
    history._prune_executor.submit(lambda: None).result(timeout=10)
    assert StoredUpdate.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_without_a_server_an_in_memory_process_relays(settings, monkeypatch):
    monkeypatch.setattr(publishing, "_serving", False)
    settings.HUBBUB_RELAY_URL = "http://127.0.0.1:9/.well-known/mercure"
    relayed = []
    monkeypatch.setattr(publishing.relay, "relay", relayed.append)
    update_id = hubbub.publish("t", "via the server")
    assert [u.id for u in relayed] == [update_id]
    assert not StoredUpdate.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_relay_failure_falls_back_to_storing_and_says_how_to_reach_the_server(settings, monkeypatch, caplog):
    monkeypatch.setattr(publishing, "_serving", False)
    settings.HUBBUB_RELAY_URL = "http://127.0.0.1:9/.well-known/mercure"
    with pytest.warns(hubbub.RelayWarning, match="stored only"):
        update_id = hubbub.publish("t", "kept for resume")
    assert StoredUpdate.objects.get().uid == update_id
    [record] = [r for r in caplog.records if r.name == "hubbub._publishing"]
    assert "no server at http://127.0.0.1:9/.well-known/mercure" in record.getMessage()
    assert "set PORT or HUBBUB_RELAY_URL" in record.getMessage()


@pytest.mark.django_db(transaction=True)
async def test_concurrent_publishes_are_committed_together_in_order(monkeypatch):
    batches = []
    store = history.store
    monkeypatch.setattr(history, "store", lambda updates, send: batches.append(len(updates)) or store(updates, send))
    async with subscribe("t") as stream:
        ids = await asyncio.gather(*(hubbub.apublish("t", str(n)) for n in range(50)))
        events = await stream.take(50)
    assert [e.id for e in events] == ids and [e.data for e in events] == [str(n) for n in range(50)]
    assert sum(batches) == 50 and len(batches) < 50


@pytest.fixture
async def redis_channel_layer(settings):
    def use(url: str) -> None:
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [url], "prefix": f"hubbub-test-{uuid.uuid4().hex[:8]}"},
            }
        }

    yield use
    hub = fanout._fanouts.get(asyncio.get_running_loop())
    if hub is not None and hub.link is not None:
        await hub.link.close()  # its own Redis connections
    await layers.channel_layer().flush()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
async def test_on_redis_a_batch_goes_out_in_one_message_in_order(redis_channel_layer, monkeypatch):
    redis_channel_layer(REDIS_URL)
    pipelined = []
    monkeypatch.setattr(layers, "group_send_pipelined", _spy(layers.group_send_pipelined, pipelined))
    async with subscribe("a", "b") as stream:
        ids = await asyncio.gather(*(hubbub.apublish("a" if i % 2 else "b", str(i)) for i in range(6)))
        events = await stream.take(6)
    assert [e.id for e in events] == ids
    messages = [message for batch in pipelined for message in batch]
    assert {group for group, _ in messages} == {fanout.all_group()}
    sent = [pair for _, message in messages for pair in message["updates"]]
    assert [Update.from_message(update).id for _, update in sent] == ids
    assert [seq for seq, _ in sent] == sorted(seq for seq, _ in sent)
    assert len(messages) < 6  # concurrent publishes were stored, and sent, together


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
async def test_on_unreachable_redis_publishing_stores_and_subscribing_is_503(redis_channel_layer, monkeypatch, caplog):
    monkeypatch.setattr(publishing, "_RESEND_DELAYS", (), raising=False)
    redis_channel_layer(f"redis://127.0.0.1:{free_port()}/0")
    ids = await asyncio.gather(*(hubbub.apublish("a", str(i)) for i in range(3)))
    ids.append(await sync_to_async(hubbub.publish)("a", "from sync code, through the publisher loop"))
    stored = await sync_to_async(lambda: list(StoredUpdate.objects.order_by("seq").values_list("uid", flat=True)))()
    assert stored == ids
    assert 2 <= len([w for w in publishing_warnings(caplog) if "did not take" in w]) <= 4  # one per batch
    async with subscribe("a") as page:
        assert page.status == 503 and "channel layer is unreachable" in page.reason


def _spy(function, calls):
    async def spy(layer, messages):
        calls.append(list(messages))
        await function(layer, messages)

    return spy
