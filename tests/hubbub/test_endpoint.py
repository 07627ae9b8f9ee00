import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import OperationalError

import hubbub
from hubbub import (
    _endpoint as endpoint,
    _fanout as fanout,
    _history as history,
    _limits as limits,
    _tokens as tokens,
    testing,
)
from hubbub._endpoint import MercureEndpoint
from hubbub._selectors import SelectorSet
from hubbub._subscriptions import Subscription
from hubbub._updates import Update
from hubbub.models import StoredUpdate
from hubbub.testing import publisher_token, subscriber_token
from tests.hubbub.asgi import publish, request, scope, subscribe
from tests.hubbub.server import body_of, connect, open_stream, read_until_closed, running, status_of

pytestmark = pytest.mark.django_db(transaction=True)


async def stored_count() -> int:
    return await sync_to_async(StoredUpdate.objects.count)()


async def test_subscriber_receives_published_update_with_all_fields():
    stream = await subscribe("https://example.com/books/1")
    assert stream.status == 200
    assert stream.headers[b"content-type"] == b"text/event-stream"
    assert stream.headers[b"cache-control"] == b"no-cache"
    assert stream.headers[b"x-accel-buffering"] == b"no"
    status, body = await publish(
        topic="https://example.com/books/1", data="line 1\nline 2", type="book", id="urn:book:1", retry="1500"
    )
    assert (status, body) == (200, b"urn:book:1")
    [event] = await stream.read_events(1)
    assert event == {"id": "urn:book:1", "event": "book", "retry": "1500", "data": "line 1\nline 2"}
    await stream.close()


async def test_stream_starts_with_retry_and_hub_position():
    await publish(topic="t", data="earlier", id="first")
    communicator = ApplicationCommunicator(MercureEndpoint(), scope("GET", "topic=t"))
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(1)
    assert dict(start["headers"])[b"last-event-id"] == b"first"
    message = await communicator.receive_output(1)
    assert message["body"].startswith(b"retry: 3000\n")
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(5)


async def test_empty_history_position_is_earliest():
    stream = await subscribe("t")
    assert stream.headers[b"last-event-id"] == b"earliest"
    await stream.close()


async def test_selectors_exact_wildcard_and_template():
    exact = await subscribe("https://example.com/books/1")
    everything = await subscribe("*")
    template = await subscribe("https://example.com/books/{id}")
    other = await subscribe("https://example.com/authors/{id}")
    await publish(topic="https://example.com/books/1", data="b1")
    for stream in (exact, everything, template):
        [event] = await stream.read_events(1)
        assert event["data"] == "b1"
    assert await other.nothing_more()
    for stream in (exact, everything, template, other):
        await stream.close()


async def test_update_with_several_topics_arrives_once():
    stream = await subscribe("a", "b", "https://x/{id}")
    await publish(topic=["a", "b", "https://x/1"], data="once")
    await publish(topic="b", data="next")
    events = await stream.read_events(2)
    assert [e["data"] for e in events] == ["once", "next"]
    assert await stream.nothing_more()
    await stream.close()


async def test_private_update_reaches_only_authorized_subscribers():
    anonymous = await subscribe("https://example.com/secret/{id}")
    authorized = await subscribe(
        "https://example.com/secret/{id}",
        headers={"authorization": f"Bearer {subscriber_token('https://example.com/secret/1')}"},
    )
    other_topic = await subscribe(
        "https://example.com/secret/{id}",
        headers={"authorization": f"Bearer {subscriber_token('https://example.com/secret/2')}"},
    )
    await publish(topic="https://example.com/secret/1", data="for your eyes", private="on")
    [event] = await authorized.read_events(1)
    assert event["data"] == "for your eyes"
    assert await anonymous.nothing_more()
    assert await other_topic.nothing_more()
    for stream in (anonymous, authorized, other_topic):
        await stream.close()


async def test_token_in_cookie_and_query():
    token = subscriber_token("*")
    by_cookie = await subscribe("p", headers={"cookie": f"mercureAuthorization={token}"})
    by_query = await subscribe("p", authorization=token)
    assert by_query.headers[b"cache-control"] == b"private, no-store"
    await publish(topic="p", data="private", private="")
    assert (await by_cookie.read_events(1))[0]["data"] == "private"
    assert (await by_query.read_events(1))[0]["data"] == "private"
    await by_cookie.close()
    await by_query.close()


async def test_resume_after_last_event_id_header_and_query():
    for n in range(5):
        await publish(topic="r", data=str(n), id=f"r{n}")
    await publish(topic="elsewhere", data="x", id="e0")
    by_header = await subscribe("r", headers={"last-event-id": "r1"})
    by_query = await subscribe("r", lastEventID="r2")
    assert [e["data"] for e in await by_header.read_events(3)] == ["2", "3", "4"]
    assert [e["data"] for e in await by_query.read_events(2)] == ["3", "4"]
    await publish(topic="r", data="live", id="r5")
    assert (await by_header.read_events(1))[0]["id"] == "r5"
    assert (await by_query.read_events(1))[0]["id"] == "r5"
    await by_header.close()
    await by_query.close()


async def test_header_takes_precedence_over_query():
    for n in range(3):
        await publish(topic="r", data=str(n), id=f"r{n}")
    stream = await subscribe("r", lastEventID="r0", headers={"last-event-id": "r1"})
    assert [e["id"] for e in await stream.read_events(1)] == ["r2"]
    assert await stream.nothing_more()
    await stream.close()


async def test_earliest_replays_everything_kept():
    for n in range(3):
        await publish(topic="h", data=str(n))
    stream = await subscribe("h", lastEventID="earliest")
    assert [e["data"] for e in await stream.read_events(3)] == ["0", "1", "2"]
    await stream.close()


async def test_unknown_last_event_id_replays_all_kept_history():
    await publish(topic="h", data="kept", id="k1")
    stream = await subscribe("h", lastEventID="urn:uuid:pruned-long-ago")
    assert [e["id"] for e in await stream.read_events(1)] == ["k1"]
    await stream.close()


async def test_private_updates_are_filtered_from_replay():
    await publish(topic="h", data="secret", private="on", id="s")
    await publish(topic="h", data="public", id="p")
    stream = await subscribe("h", lastEventID="earliest")
    assert [e["id"] for e in await stream.read_events(1)] == ["p"]
    assert await stream.nothing_more()
    await stream.close()


@pytest.mark.parametrize(
    "fields, status, reason",
    [
        ({"data": "no topic"}, 400, b'missing "topic"'),
        ({"topic": "t", "id": "#frag"}, 400, b"'#'"),
        ({"topic": "t", "id": "a\nb"}, 400, b"control"),
        ({"topic": "t", "id": "a\x00b"}, 400, b"control"),
        ({"topic": "t", "type": "a\rb"}, 400, b"type"),
        ({"topic": "t", "retry": "12a"}, 400, b"retry"),
        ({"topic": "t", "data": "x" * 2000}, 413, b"larger than"),
        ({"topic": ["t"] * 40}, 413, b"topics"),
    ],
)
async def test_invalid_publications_are_rejected_and_nothing_is_stored(settings, fields, status, reason):
    settings.HUBBUB_MAX_DATA_BYTES = 1000
    got_status, body = await publish(**fields)
    assert got_status == status
    assert reason in body
    assert b"\n" not in body
    assert await stored_count() == 0


async def test_request_body_over_the_limit_is_413_before_reading(settings):
    settings.HUBBUB_MAX_DATA_BYTES = 10
    status, _, body = await request(
        "POST",
        headers={
            "authorization": f"Bearer {publisher_token()}",
            "content-type": "application/x-www-form-urlencoded",
            "content-length": "10000000",
        },
        body=b"topic=t",
    )
    assert status == 413
    assert await stored_count() == 0


async def test_publishing_requires_a_valid_token():
    status, headers, body = await request(
        "POST", headers={"content-type": "application/x-www-form-urlencoded"}, body=b"topic=t"
    )
    assert status == 401 and headers[b"www-authenticate"].startswith(b"Bearer resource_metadata=")
    status, headers, body = await request(
        "POST",
        headers={"authorization": "Bearer nonsense", "content-type": "application/x-www-form-urlencoded"},
        body=b"topic=t",
    )
    assert status == 401 and b"invalid_token" in headers[b"www-authenticate"]
    status, _, _ = await request(
        "POST",
        headers={
            "authorization": f"Bearer {subscriber_token('*')}",
            "content-type": "application/x-www-form-urlencoded",
        },
        body=b"topic=t",
    )
    assert status == 401
    assert await stored_count() == 0


async def test_publishing_outside_the_token_topics_is_forbidden():
    token = publisher_token("https://example.com/books/{id}")
    assert (await publish(token=token, topic="https://example.com/books/1"))[0] == 200
    status, body = await publish(token=token, topic=["https://example.com/books/2", "https://example.com/users/1"])
    assert status == 403
    assert b"https://example.com/users/1" in body
    assert await stored_count() == 1


async def test_token_without_publish_claim_is_forbidden():
    token = tokens.mint(django_settings.HUBBUB_PUBLISHER_JWT_KEY, subscribe=["*"])
    status, body = await publish(token=token, topic="t")
    assert status == 403 and b"grants no publishing" in body


async def test_publish_must_be_form_encoded():
    status, _, body = await request(
        "POST", headers={"authorization": f"Bearer {publisher_token()}", "content-type": "application/json"}, body=b"{}"
    )
    assert status == 400 and b"x-www-form-urlencoded" in body


async def test_publish_in_cookie_works():
    status, _, body = await request(
        "POST",
        headers={
            "cookie": f"mercureAuthorization={publisher_token()}",
            "content-type": "application/x-www-form-urlencoded",
            "host": "testserver",
            "origin": "http://testserver",
        },
        body=b"topic=t&data=d",
    )
    assert status == 200 and body.startswith(b"urn:uuid:")


async def test_subscribe_errors():
    status, _, body = await request("GET")
    assert status == 400 and b'missing "match" parameter' in body
    status, _, _ = await request("GET", "topic=t", headers={"last-event-id": "#bad"})
    assert status == 400
    status, headers, _ = await request("GET", "topic=t", headers={"authorization": "Bearer garbage"})
    assert status == 401 and b"invalid_token" in headers[b"www-authenticate"]
    status, _, _ = await request("GET", "&".join(["topic=t"] * 65))
    assert status == 413


async def test_anonymous_subscribers_can_be_refused(settings):
    settings.HUBBUB_ANONYMOUS_SUBSCRIBERS = False
    status, _, body = await request("GET", "topic=t")
    assert status == 401
    stream = await subscribe("t", headers={"authorization": f"Bearer {subscriber_token('t')}"})
    assert stream.status == 200
    await stream.close()


async def test_other_methods_are_405():
    status, headers, _ = await request("DELETE")
    assert status == 405 and headers[b"allow"] == b"GET, QUERY, POST, OPTIONS"


async def test_cors(settings):
    settings.HUBBUB_CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    status, headers, _ = await request("OPTIONS", headers={"origin": "https://app.example.com"})
    assert status == 204
    assert headers[b"access-control-allow-origin"] == b"https://app.example.com"
    assert headers[b"access-control-allow-credentials"] == b"true"
    assert b"Last-Event-ID" in headers[b"access-control-allow-headers"]
    status, headers, _ = await request("OPTIONS", headers={"origin": "https://evil.example.com"})
    assert b"access-control-allow-origin" not in headers
    stream = await subscribe("t", headers={"origin": "https://app.example.com"})
    assert stream.headers[b"access-control-allow-origin"] == b"https://app.example.com"
    await stream.close()


async def test_disconnect_leaves_nothing_behind():
    hub = fanout.current()
    tasks_before = len(asyncio.all_tasks())
    streams = [await subscribe(f"topic-{n % 10}", "https://x/{id}") for n in range(50)]
    assert len(hub.subscriptions) == 50
    assert len(hub.by_topic) == 10
    await publish(topic="topic-3", data="hello")
    for stream in streams[3::10]:
        assert (await stream.read_events(1))[0]["data"] == "hello"
    for stream in streams:
        await stream.close()
    assert hub.subscriptions == set() and hub.by_topic == {} and hub.by_user == {}
    assert hub.everything == set() and hub.by_template == {}
    assert len(asyncio.all_tasks()) <= tasks_before + 1  # the fan-out's one receiver task


async def test_slow_subscriber_is_disconnected_not_buffered(settings):
    settings.HUBBUB_SUBSCRIBER_BUFFER = 5
    hub = fanout.current()
    stream = await subscribe("fast")
    subscription = next(iter(hub.subscriptions))
    for n in range(20):
        hub.dispatch(Update.create("fast", str(n)), 10_000 + n)
    assert subscription.closed and "too slow" in subscription.reason
    await stream.wait_ended(5)
    assert hub.subscriptions == set()


async def test_stream_closes_when_the_token_expires():
    token = subscriber_token("t", expires_in=2)
    stream = await subscribe("t", headers={"authorization": f"Bearer {token}"})
    started = time.monotonic()
    await stream.wait_ended(5)
    assert 0.9 < time.monotonic() - started < 4  # exp has whole-second precision


async def test_unreachable_history_is_503(monkeypatch):
    def broken(last_event_id):
        raise OperationalError("database is gone")

    monkeypatch.setattr(history, "resume_point", broken)
    status, _, body = await request("GET", "topic=t")
    assert status == 503 and b"history is unreachable" in body
    assert fanout.current().subscriptions == set()
    assert limits.connections.count(limits.TOTAL) == 0


# Bounded clients. Subscribers that stop reading, over a real server (tests/hubbub/server.py):
# small kernel buffers on both ends, so that the server's writes block after some 100 kB.


async def stream_that_stops_reading(port: int):
    """A raw client that subscribes to "stuck", reads the response head, and reads no more."""
    return await open_stream(port, "topic=stuck", receive_buffer=4096)


async def publish_large(count: int) -> None:
    """Publish ``count`` updates of 64 kB to "stuck": eight are more than the socket buffers
    and the transport's hold, so that the server's write waits for the client."""
    for _ in range(count):
        await hubbub.apublish("stuck", "x" * 65536)


async def released(hub, seconds: float) -> bool:
    """Whether the fan-out lets go of every subscription within ``seconds``."""
    deadline = time.monotonic() + seconds
    while hub.subscriptions and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return not hub.subscriptions


@pytest.mark.timeout(60)
async def test_a_subscriber_that_stops_reading_is_dropped_when_its_buffer_overflows(settings):
    settings.HUBBUB_SUBSCRIBER_BUFFER = 4
    settings.HUBBUB_WRITE_TIMEOUT_SECONDS = None  # the overflow alone ends it
    hub = fanout.current()
    async with running(send_buffer=4096) as server:
        client = await stream_that_stops_reading(server.port)
        [subscription] = hub.subscriptions
        await publish_large(16)  # the server's write waits for the client; then 4 more updates wait
        assert await released(hub, 2), "the stream stayed blocked in its write"
        assert subscription.closed and "too slow" in subscription.reason
        assert hub.by_topic == {}
        received = await read_until_closed(client, 5)  # dropped, unfinished: no final chunk
        assert not received.endswith(b"0\r\n\r\n")
        client.close()
        assert server.connections == 0
    assert limits.connections.count(limits.TOTAL) == 0


@pytest.mark.timeout(60)
async def test_a_subscriber_whose_writes_stall_is_dropped_after_the_write_timeout(settings):
    settings.HUBBUB_WRITE_TIMEOUT_SECONDS = 0.3
    settings.HUBBUB_HEARTBEAT_SECONDS = 0.1
    hub = fanout.current()
    async with running(send_buffer=4096) as server:
        client = await stream_that_stops_reading(server.port)
        [subscription] = hub.subscriptions
        await publish_large(8)
        assert await released(hub, 3), "the stream stayed blocked in its write"  # nothing more was published
        assert "write timeout" in subscription.reason
        await read_until_closed(client, 5)
        client.close()
        assert server.connections == 0
    assert limits.connections.count(limits.TOTAL) == 0


async def test_a_stream_ends_cleanly_at_its_maximum_lifetime(settings):
    settings.HUBBUB_MAX_CONNECTION_SECONDS = 0.5
    settings.HUBBUB_HEARTBEAT_SECONDS = 0.1  # the lifetime is checked at each heartbeat
    started = time.monotonic()
    async with testing.subscribe("t") as subscriber:
        with pytest.raises(EOFError, match="the hub ended the stream"):  # the response is finished
            await subscriber.next(timeout=5)
        assert 0.45 <= time.monotonic() - started < 3
    assert fanout.current().subscriptions == set()
    assert limits.connections.count(limits.TOTAL) == 0


async def test_lifetimes_are_drawn_between_nine_tenths_and_all_of_the_maximum(settings):
    settings.HUBBUB_MAX_CONNECTION_SECONDS = 1000
    subscriptions = [Subscription(SelectorSet(["t"]), SelectorSet(), 10) for _ in range(50)]
    # Without a token: no timer, a deadline that the heartbeat checks.
    assert [endpoint._close_later(None, subscription) for subscription in subscriptions] == [None] * 50
    delays = [subscription.deadline - time.monotonic() for subscription in subscriptions]
    assert all(899 < delay <= 1000 for delay in delays)
    assert max(delays) - min(delays) > 20  # spread, not one instant for all
    # A token that expires sooner closes the stream by a timer, at its expiry.
    subscription = subscriptions[0]
    loop = asyncio.get_running_loop()
    soon = endpoint._close_later(time.time() + 5, subscription)
    assert soon is not None and 4 < soon.when() - loop.time() <= 5
    soon.cancel()
    assert endpoint._close_later(time.time() + 5000, subscription) is None  # the lifetime ends first
    settings.HUBBUB_MAX_CONNECTION_SECONDS = None
    fresh = Subscription(SelectorSet(["t"]), SelectorSet(), 10)
    assert endpoint._close_later(None, fresh) is None and fresh.deadline == 0.0


def test_a_subscription_past_its_deadline_is_closed_at_the_heartbeat():
    subscription = Subscription(SelectorSet(["t"]), SelectorSet(), 10)
    subscription.deadline = time.monotonic() + 60
    subscription.heartbeat()
    assert not subscription.closed
    subscription.deadline = time.monotonic() - 1
    subscription.heartbeat()
    assert subscription.closed and subscription.reason == "maximum connection lifetime reached"


async def test_streams_over_the_limit_per_address_are_answered_429(settings):
    settings.HUBBUB_MAX_CONNECTIONS_PER_IP = 2
    first, second = await subscribe("t"), await subscribe("u")
    status, headers, body = await request("GET", "topic=v")
    assert status == 429 and headers[b"retry-after"] == b"10"
    assert body == b"too many open streams from 127.0.0.1 (limit 2); retry in 10 s\n"
    await first.close()
    third = await subscribe("v")  # the slot the first stream held is free again
    assert third.status == 200
    for stream in (second, third):
        await stream.close()
    assert limits.connections.count("ip:127.0.0.1") == 0


async def test_streams_over_the_limit_per_token_or_user_are_answered_429(settings):
    settings.HUBBUB_MAX_CONNECTIONS_PER_USER = 1
    token = subscriber_token("t")
    first = await subscribe("t", headers={"authorization": f"Bearer {token}"})
    status, headers, body = await request("GET", "topic=t", headers={"authorization": f"Bearer {token}"})
    assert (status, body) == (429, b"too many open streams with this token (limit 1); retry in 10 s\n")
    other = await subscribe("t", headers={"authorization": f"Bearer {subscriber_token('t', 'u')}"})
    assert other.status == 200  # another token, another client
    user = await sync_to_async(get_user_model().objects.create_user)("ada")
    async with testing.subscribe("t", user=user) as signed_in:
        assert signed_in.status == 200
        async with testing.subscribe("t", user=user) as again:
            assert (again.status, again.reason) == (429, "too many open streams for this user (limit 1); retry in 10 s")
            assert again.headers["retry-after"] == "10"
    for stream in (first, other):
        await stream.close()
    assert limits.connections.count(limits.TOTAL) == 0


async def test_streams_over_the_total_limit_are_answered_429(settings):
    settings.HUBBUB_MAX_CONNECTIONS = 1
    first = await subscribe("t")
    status, headers, body = await request(
        "GET", "topic=t", headers={"authorization": f"Bearer {subscriber_token('t')}"}
    )
    assert (status, body) == (429, b"too many open streams on this server (limit 1); retry in 10 s\n")
    assert headers[b"retry-after"] == b"10"
    await first.close()


async def test_behind_a_proxy_streams_are_counted_per_forwarded_address(settings):
    settings.HUBBUB_MAX_CONNECTIONS_PER_IP = 1
    loop = asyncio.get_running_loop()

    async def get(forwarded_for: str) -> bytes:
        client = await connect(server.port)
        await loop.sock_sendall(
            client,
            b"GET /.well-known/mercure?topic=t HTTP/1.1\r\nHost: hub\r\nX-Forwarded-For: %s\r\n\r\n"
            % forwarded_for.encode(),
        )
        clients.append(client)
        async with asyncio.timeout(5):
            head = await loop.sock_recv(client, 4096)
        return head

    clients = []
    async with running() as server:  # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default
        assert status_of(await get("203.0.113.7")) == 200
        assert status_of(await get("203.0.113.8")) == 200
        refused = await get("203.0.113.7")
        assert status_of(refused) == 429
        assert b"from 203.0.113.7" in body_of(refused)
        for client in clients:
            client.close()


@pytest.mark.timeout(30)
async def test_a_publish_body_that_does_not_arrive_in_time_is_408(settings):
    settings.HUBBUB_BODY_TIMEOUT_SECONDS = 0.3
    async with running() as server:
        client = await connect(server.port)
        started = time.monotonic()
        await asyncio.get_running_loop().sock_sendall(
            client,
            b"POST /.well-known/mercure HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer %s\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntopic=t&da"
            % publisher_token().encode(),
        )
        response = await read_until_closed(client, 5)  # answered, and closed: the rest is not awaited
        assert 0.3 <= time.monotonic() - started < 3
        client.close()
    assert status_of(response) == 408
    assert body_of(response) == b"the request body did not arrive within 0.3 s\n"
    assert await stored_count() == 0


# Reliability: what the endpoint answers for retries, reserved ids and private positions


async def test_the_hub_position_header_never_shows_a_private_update_id():
    await publish(topic="t", data="public", id="urn:public")
    await publish(topic="secret", data="private", id="urn:private-secret-id", private="on")
    stream = await subscribe("t")
    assert stream.headers[b"last-event-id"] == b"urn:public"
    await stream.close()


async def test_a_retried_publish_is_answered_with_its_id_and_stored_and_sent_once():
    stream = await subscribe("t")
    assert await publish(topic="t", data="once", id="urn:retry") == (200, b"urn:retry")
    assert await publish(topic="t", data="once", id="urn:retry") == (200, b"urn:retry")
    assert await publish(topic="t", data="after", id="urn:after") == (200, b"urn:after")
    events = await stream.read_events(2)
    assert [event["id"] for event in events] == ["urn:retry", "urn:after"]
    assert await stored_count() == 2
    await stream.close()


async def test_an_id_already_stored_with_other_content_is_409_and_changes_nothing():
    await publish(topic="t", data="first", id="urn:taken")
    status, body = await publish(topic="t", data="second", id="urn:taken")
    assert status == 409 and b"already stored" in body and b"\n" not in body
    rows = await sync_to_async(list)(StoredUpdate.objects.values_list("uid", "data"))
    assert rows == [("urn:taken", "first")]


async def test_earliest_is_refused_as_an_update_id():
    status, body = await publish(topic="t", data="x", id="earliest")
    assert status == 400 and b"reserved" in body
    assert await stored_count() == 0


async def test_anonymous_subscribers_get_a_bounded_number_of_templates(settings):
    settings.HUBBUB_MAX_ANONYMOUS_TEMPLATES = 2
    templates = [f"topic=https://example.com/{n}/{{id}}" for n in range(3)]
    status, _, body = await request("GET", "&".join(templates))
    assert status == 400 and b"at most 2 URI templates" in body
    stream = await subscribe(*[f"https://example.com/{n}/{{id}}" for n in range(2)], "exact")
    assert stream.status == 200
    await stream.close()
    token = subscriber_token("*")
    stream = await subscribe(
        *[f"https://example.com/{n}/{{id}}" for n in range(3)], headers={"authorization": f"Bearer {token}"}
    )
    assert stream.status == 200
    await stream.close()


# Mercure 1.0 (draft-08) beside draft-07


async def test_match_and_match_urlpattern_select_topics_exactly_and_by_url_pattern():
    exact = await subscribe(match="https://example.com/books/{id}")
    by_pattern = await subscribe(match_urlpattern="https://example.com/books/:id")
    explicit = await subscribe(match_exact="https://example.com/books/1")
    await publish(topic="https://example.com/books/1", data="b1")
    await publish(topic="https://example.com/books/{id}", data="braces")
    # The URL parser escapes the braces ("%7Bid%7D"), a path segment like any other to ":id".
    assert [e["data"] for e in await by_pattern.read_events(2)] == ["b1", "braces"]
    assert [e["data"] for e in await explicit.read_events(1)] == ["b1"]
    # An exact matcher is compared byte for byte: braces are no template there.
    assert [e["data"] for e in await exact.read_events(1)] == ["braces"]
    for stream in (exact, by_pattern, explicit):
        assert await stream.nothing_more()
        await stream.close()


async def test_several_matchers_of_both_types_in_one_request():
    subscriber = testing.subscribe(
        query=[("match", "a"), ("match_urlpattern", "https://example.com/users/:id/*"), ("match", "b")]
    )
    async with subscriber as stream:
        await publish(topic="b", data="1")
        await publish(topic="https://example.com/users/7/books/1", data="2")
        await publish(topic="c", data="no")
        await publish(topic="a", data="3")
        assert [(await stream.next()).data for _ in range(3)] == ["1", "2", "3"]
        assert await stream.silent(0.2)


async def test_relative_url_patterns_and_topics_resolve_against_the_hub_url():
    stream = await subscribe(match_urlpattern="/books/:id")
    await publish(topic="/books/1", data="relative")
    await publish(topic="http://testserver:80/books/2", data="absolute")
    await publish(topic="https://elsewhere.example/books/3", data="other host")
    assert [e["data"] for e in await stream.read_events(2)] == ["relative", "absolute"]
    assert await stream.nothing_more()
    await stream.close()


@pytest.mark.parametrize(
    "query, reason",
    [
        ("matchx=a", b"unknown matcher parameter 'matchx'"),
        ("Match=a", b"unknown matcher parameter 'Match'"),
        ("match_regexp=a", b"unknown matcher parameter"),
        ("match=", b"must not be empty"),
        ("match=a%E2%80%8Bb", b"invisible"),
        ("match=a%07b", b"control"),
        ("match_urlpattern=https%3A%2F%2Fex%2F(%3F%3Da)", b"is not a URL Pattern"),
        ("match=a&topic=b", b"not both"),
        ("&".join(["match=t"] * 65), b"more than 64 topic matchers"),
        ("match=" + "x" * 2049, b"longer than 2048"),
        ("match=t&last_event_id=%23frag", b"'#'"),
    ],
)
async def test_malformed_mercure_1_0_subscriptions_are_400(query, reason):
    status, _, body = await request("GET", query)
    assert status == 400
    assert reason in body, body


async def test_query_method_carries_matchers_in_a_form_body_joined_to_the_query():
    await publish(topic="q1", data="before", id="before")
    await publish(topic="q1", data="after", id="after")
    communicator = ApplicationCommunicator(
        MercureEndpoint(),
        scope("QUERY", "match=q2&last_event_id=before", {"content-type": "application/x-www-form-urlencoded"}),
    )
    await communicator.send_input({"type": "http.request", "body": b"match=q1&last_event_id=ignored"})
    start = await communicator.receive_output(2)
    assert start["status"] == 200
    # last_event_id in both: the query's wins.
    assert dict(start["headers"])[b"mercure-last-event-id"] == b"before"
    await communicator.receive_output(2)  # retry
    replayed = await communicator.receive_output(2)
    assert b"id: after\n" in replayed["body"]
    await publish(topic="q2", data="live from the query's matcher", id="live")
    live = await communicator.receive_output(2)
    assert b"id: live\n" in live["body"]
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(5)


async def test_query_method_needs_a_form_body():
    status, _, body = await request("QUERY", "", {"content-type": "application/json"}, b"{}")
    assert status == 400 and b"x-www-form-urlencoded" in body


async def test_mercure_last_event_id_names_the_update_before_the_first_one_sent():
    for n in range(3):
        await publish(topic="r", data=str(n), id=f"r{n}")
    resumed = await subscribe(match="r", last_event_id="r0")
    assert resumed.headers[b"mercure-last-event-id"] == b"r0"
    assert b"last-event-id" not in resumed.headers
    assert [e["id"] for e in await resumed.read_events(2)] == ["r1", "r2"]
    await resumed.close()
    for asked in ("earliest", "urn:uuid:unknown"):
        stream = await subscribe(match="r", last_event_id=asked)
        assert stream.headers[b"mercure-last-event-id"] == b"earliest"
        assert [e["id"] for e in await stream.read_events(3)] == ["r0", "r1", "r2"]
        await stream.close()
    fresh = await subscribe(match="r")
    assert b"mercure-last-event-id" not in fresh.headers
    await fresh.close()


async def test_draft07_last_event_id_header_names_the_update_before_the_first_one_sent():
    for n in range(3):
        await publish(topic="r", data=str(n), id=f"r{n}")
    resumed = await subscribe("r", lastEventID="r0")
    # Resuming from r0 replays r1 and r2: the update before the first one sent is r0.
    assert resumed.headers[b"last-event-id"] == b"r0"
    await resumed.close()
    unknown = await subscribe("r", lastEventID="urn:uuid:unknown")
    assert unknown.headers[b"last-event-id"] == b"earliest"
    await unknown.close()
    fresh = await subscribe("r")
    assert fresh.headers[b"last-event-id"] == b"r2"
    await fresh.close()


async def test_draft07_can_be_turned_off(settings):
    settings.HUBBUB_MERCURE_DRAFT07 = False
    status, _, body = await request("GET", "topic=t")
    assert status == 400 and b"draft-07 subscriptions (topic=) are turned off" in body
    stream = await subscribe(match="t")
    assert stream.status == 200
    await stream.close()


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"topic": "*"}, b"topic '*' is reserved"),
        ({"topic": "/.well-known/mercure/subscriptions/x"}, b"reserved for the hub"),
        ({"topic": "https://hub.example/.well-known/%6Dercure/subscriptions"}, b"reserved for the hub"),
        ({"topic": "https://hub.example/.well-known/mercure/../mercure/x"}, b"reserved for the hub"),
        ({"topic": "a\u202eb"}, b"invisible"),
        ({"topic": "t", "type": "mercure"}, b"type 'mercure' is reserved"),
        ({"topic": "t", "type": "a\u200bb"}, b"invisible"),
        ({"topic": "t", "id": "earliest"}, b"reserved"),
        ({"topic": "t", "id": "a\x85b"}, b"control"),
    ],
)
async def test_publications_the_protocol_reserves_or_forbids_are_400(fields, reason):
    status, body = await publish(**fields)
    assert status == 400
    assert reason in body, body
    assert await stored_count() == 0


async def test_the_publish_response_body_is_exactly_the_id():
    status, headers, body = await request(
        "POST",
        headers={
            "authorization": f"Bearer {publisher_token()}",
            "content-type": "application/x-www-form-urlencoded",
        },
        body=b"topic=t&id=urn%3Aexact",
    )
    assert (status, body) == (200, b"urn:exact")
    assert headers[b"content-type"] == b"text/plain; charset=utf-8"


async def test_errors_carry_rfc_6750_challenges_pointing_at_the_metadata():
    metadata = b'resource_metadata="http://testserver/.well-known/oauth-protected-resource/.well-known/mercure"'
    form = {"content-type": "application/x-www-form-urlencoded", "host": "testserver"}
    status, headers, _ = await request("POST", headers=form, body=b"topic=t")
    assert status == 401 and headers[b"www-authenticate"] == b"Bearer " + metadata
    status, headers, _ = await request("POST", headers={**form, "authorization": "Bearer x.y.z"}, body=b"topic=t")
    assert status == 401 and headers[b"www-authenticate"] == b'Bearer error="invalid_token", ' + metadata
    token = publisher_token("https://example.com/mine")
    status, headers, _ = await request(
        "POST", headers={**form, "authorization": f"Bearer {token}"}, body=b"topic=https://example.com/theirs"
    )
    assert status == 403 and headers[b"www-authenticate"] == b'Bearer error="insufficient_scope", ' + metadata
    status, headers, _ = await request("POST", headers={**form, "authorization": "Basic abc"}, body=b"topic=t")
    assert status == 400 and headers[b"www-authenticate"] == b'Bearer error="invalid_request", ' + metadata
    status, headers, _ = await request("GET", "match=t&matchy=u")
    assert status == 400 and b"www-authenticate" not in headers


async def test_a_cookie_authenticated_publish_is_accepted_only_from_allowed_origins(settings):
    cookie = {
        "cookie": f"mercureAuthorization={publisher_token()}",
        "content-type": "application/x-www-form-urlencoded",
        "host": "hub.example.com",
    }
    status, _, body = await request("POST", headers=cookie, body=b"topic=t")
    assert status == 403 and b"needs an Origin or Referer" in body
    status, _, body = await request("POST", headers={**cookie, "origin": "https://evil.example"}, body=b"topic=t")
    assert status == 403 and b"https://evil.example may not publish" in body
    assert await stored_count() == 0
    status, _, _ = await request("POST", headers={**cookie, "origin": "http://hub.example.com"}, body=b"topic=t")
    assert status == 200
    status, _, _ = await request(
        "POST", headers={**cookie, "referer": "http://hub.example.com/page?x=1"}, body=b"topic=t"
    )
    assert status == 200
    settings.HUBBUB_PUBLISH_ORIGINS = ["https://app.example.com"]
    status, _, _ = await request("POST", headers={**cookie, "origin": "https://app.example.com"}, body=b"topic=t")
    assert status == 200
    # A bearer token in a header is no ambient credential: any origin may use it.
    bearer = {"authorization": f"Bearer {publisher_token()}", "content-type": "application/x-www-form-urlencoded"}
    status, _, _ = await request("POST", headers={**bearer, "origin": "https://evil.example"}, body=b"topic=t")
    assert status == 200
    assert await stored_count() == 4


async def test_a_wildcard_cors_origin_is_never_echoed_with_credentials(settings):
    settings.HUBBUB_CORS_ALLOWED_ORIGINS = ["*"]
    stream = await subscribe("t", headers={"origin": "https://anywhere.example"})
    assert stream.headers[b"access-control-allow-origin"] == b"*"
    assert b"access-control-allow-credentials" not in stream.headers
    await stream.close()
    settings.HUBBUB_CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    stream = await subscribe(match="t", last_event_id="earliest", headers={"origin": "https://app.example.com"})
    assert stream.headers[b"access-control-allow-credentials"] == b"true"
    assert b"Mercure-Last-Event-ID" in stream.headers[b"access-control-expose-headers"]
    await stream.close()


async def test_the_protected_resource_metadata_document(settings):
    from hubbub._metadata import ResourceMetadata
    from tests.hubbub.asgi import exchange

    path = "/.well-known/oauth-protected-resource/.well-known/mercure"
    request_scope = {**scope("GET", headers={"host": "hub.example.com"}), "path": path, "raw_path": path.encode()}
    status, headers, body = await exchange(ResourceMetadata(), request_scope)
    assert status == 200 and headers[b"content-type"] == b"application/json"
    import json

    document = json.loads(body)
    assert document == {
        "resource": "http://hub.example.com/.well-known/mercure",
        "authorization_details_types_supported": ["https://mercure.rocks/authorization-detail"],
        "bearer_methods_supported": ["header"],
        "mercure_cookie": "__Secure-mercure_access_token",
        "mercure_matcher_types_supported": ["exact", "urlpattern"],
    }
    settings.HUBBUB_TOKEN_AUDIENCE = "https://hub.example.com/.well-known/mercure"
    settings.HUBBUB_TOKEN_ISSUERS = {"https://auth.example.com": {"jwks_url": "https://auth.example.com/jwks"}}
    status, _, body = await exchange(ResourceMetadata(), request_scope)
    assert json.loads(body)["resource"] == "https://hub.example.com/.well-known/mercure"
    assert json.loads(body)["authorization_servers"] == ["https://auth.example.com"]
    status, _, _ = await exchange(ResourceMetadata(), {**request_scope, "method": "POST"})
    assert status == 405


# The host the tokens of these tests are minted for (the in-process requests have none).
TESTSERVER = {"host": "testserver"}


def token_1_0(*, publish=None, subscribe=None, **kwargs) -> str:
    return hubbub.mint_token(
        publish=publish, subscribe=subscribe, draft=8, audience="http://testserver/.well-known/mercure", **kwargs
    )


async def test_a_mercure_1_0_token_reads_the_private_updates_its_authorization_details_grant():
    books = token_1_0(subscribe=[{"match": "https://example.com/users/42/*", "match_type": "urlpattern"}])
    reader = await subscribe(
        match_urlpattern="https://example.com/books/:id", headers={"authorization": f"Bearer {books}"}
    )
    anonymous = await subscribe(match_urlpattern="https://example.com/books/:id")
    # The canonical topic is not granted, the alternate one is: the update is delivered.
    await publish(
        topic=["https://example.com/books/1", "https://example.com/users/42/books/1"], data="mine", private="on"
    )
    await publish(topic="https://example.com/books/2", data="not mine", private="on")
    await publish(topic="https://example.com/books/3", data="public")
    assert [e["data"] for e in await reader.read_events(2)] == ["mine", "public"]
    assert [e["data"] for e in await anonymous.read_events(1)] == ["public"]
    for stream in (reader, anonymous):
        assert await stream.nothing_more()
        await stream.close()


async def test_the_mercure_1_0_cookie_carries_a_token_and_a_header_wins_over_it():
    everything = token_1_0(subscribe=["*"])
    nothing = token_1_0(subscribe=["https://example.com/unrelated"])
    by_cookie = await subscribe(match="p", headers={"cookie": f"__Secure-mercure_access_token={everything}"})
    header_wins = await subscribe(
        match="p",
        headers={"cookie": f"__Secure-mercure_access_token={everything}", "authorization": f"Bearer {nothing}"},
    )
    await publish(topic="p", data="private", private="on")
    await publish(topic="p", data="public")
    assert [e["data"] for e in await by_cookie.read_events(2)] == ["private", "public"]
    assert [e["data"] for e in await header_wins.read_events(1)] == ["public"]
    await by_cookie.close()
    await header_wins.close()


async def test_publishing_with_a_mercure_1_0_token_needs_publish_on_every_topic():
    token = token_1_0(publish=[{"match": "https://example.com/books/:id", "match_type": "urlpattern"}])
    assert await publish(headers=TESTSERVER, token=token, topic="https://example.com/books/1", id="ok") == (200, b"ok")
    status, body = await publish(
        headers=TESTSERVER, token=token, topic=["https://example.com/books/2", "https://example.com/users/1"]
    )
    assert status == 403 and b"https://example.com/users/1" in body
    subscribe_only = token_1_0(subscribe=["*"], key=django_settings.HUBBUB_PUBLISHER_JWT_KEY)
    status, body = await publish(headers=TESTSERVER, token=subscribe_only, topic="https://example.com/books/3")
    assert status == 403 and b"grants no publishing" in body
    for_another_hub = hubbub.mint_token(publish=["*"], draft=8, audience="https://other.example/.well-known/mercure")
    status, body = await publish(headers=TESTSERVER, token=for_another_hub, topic="https://example.com/books/4")
    assert status == 401
    assert await stored_count() == 1


async def test_with_draft07_off_its_tokens_and_query_tokens_are_refused(settings):
    draft07_token = publisher_token()
    settings.HUBBUB_MERCURE_DRAFT07 = False
    status, _ = await publish(headers=TESTSERVER, token=draft07_token, topic="t")
    assert status == 401
    status, _, _ = await request("GET", [("match", "t"), ("authorization", token_1_0(subscribe=["*"]))])
    assert status == 400
    assert await publish(headers=TESTSERVER, token=token_1_0(publish=["*"]), topic="t", id="1.0") == (200, b"1.0")
    assert await stored_count() == 1


async def test_an_unreachable_key_set_is_503_and_nothing_is_stored(settings):
    import jwt

    settings.HUBBUB_TOKEN_ISSUERS = {"https://auth.example": {"jwks_url": "http://127.0.0.1:9/jwks.json"}}
    token = jwt.encode(
        {"iss": "https://auth.example", "aud": "http://testserver/.well-known/mercure", "exp": time.time() + 60},
        "a-key-that-is-not-the-issuers-but-long-enough",
        algorithm="HS256",
        headers={"typ": "at+jwt", "kid": "k1"},
    )
    status, body = await publish(token=token, topic="t")
    assert status == 503 and b"unreachable" in body
    assert await stored_count() == 0
