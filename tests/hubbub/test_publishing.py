import asyncio
import threading
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

import hubbub
from hubbub import _history as history, _layers as layers, _publishing as publishing
from hubbub.exceptions import FanoutUnavailable, InvalidUpdate
from hubbub.models import StoredUpdate
from hubbub.testing import subscribe
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


@pytest.mark.django_db(transaction=True)
async def test_channel_layer_failure_is_reported_and_nothing_kept(monkeypatch):
    layer = publishing.layers.channel_layer()

    async def broken(group, message):
        raise ConnectionError("redis went away")

    monkeypatch.setattr(layer, "group_send", broken)
    with pytest.raises(FanoutUnavailable, match="redis went away") as raised:
        await hubbub.apublish("t", "lost?")
    assert await sync_to_async(history.position)(raised.value.update_id) is None
    monkeypatch.undo()
    assert await hubbub.apublish("t", "retried", id=raised.value.update_id) == raised.value.update_id


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


@pytest.mark.django_db(transaction=True)
async def test_a_batch_that_the_layer_takes_partly(monkeypatch):
    layer = publishing.layers.channel_layer()
    original = layer.group_send
    sent = []

    async def flaky(group, message):
        if len(sent) >= 4:
            raise ConnectionError("gone")
        sent.append(group)
        await original(group, message)

    monkeypatch.setattr(layer, "group_send", flaky)
    results = await asyncio.gather(*(hubbub.apublish("t", str(n)) for n in range(4)), return_exceptions=True)
    published = [r for r in results if isinstance(r, str)]
    failed = [r for r in results if isinstance(r, FanoutUnavailable)]
    assert len(published) == 2 and len(failed) == 2  # two groups per update: its topic and "all"
    stored = await sync_to_async(lambda: list(StoredUpdate.objects.values_list("uid", flat=True)))()
    assert stored == published


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
    await publishing.layers.channel_layer().flush()


@pytest.mark.django_db(transaction=True)
async def test_on_redis_a_batch_goes_out_in_one_pipeline_in_order(redis_channel_layer, monkeypatch):
    redis_channel_layer(REDIS_URL)
    pipelined = []
    monkeypatch.setattr(layers, "group_send_pipelined", _spy(layers.group_send_pipelined, pipelined))
    async with subscribe("a", "b") as stream:
        ids = await asyncio.gather(*(hubbub.apublish("a" if i % 2 else "b", str(i)) for i in range(6)))
        events = await stream.take(6)
    assert [e.id for e in events] == ids
    assert sum(len(messages) for messages in pipelined) == 12  # each update: its topic's group and hubbub.all
    assert len(pipelined) < 6  # concurrent publishes shared pipelines


@pytest.mark.django_db(transaction=True)
async def test_on_unreachable_redis_publish_fails_and_keeps_nothing(redis_channel_layer):
    redis_channel_layer(f"redis://127.0.0.1:{free_port()}/0")
    results = await asyncio.gather(*(hubbub.apublish("a", str(i)) for i in range(3)), return_exceptions=True)
    assert all(isinstance(result, FanoutUnavailable) for result in results)
    assert not await StoredUpdate.objects.aexists()


def _spy(function, calls):
    async def spy(layer, messages):
        calls.append(list(messages))
        await function(layer, messages)

    return spy
