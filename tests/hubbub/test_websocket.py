"""The hub over a WebSocket, with a real client (``websockets``): against real server processes
of both configurations (and two workers on PostgreSQL + Redis), and against a uvicorn server in
the test's own loop where a test changes settings or looks at the fan-out."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.contrib.auth.models import User
from django.db import OperationalError
from websockets.exceptions import InvalidStatus

import hubbub
from hubbub import _fanout as fanout, _tokens as tokens
from hubbub._updates import Update
from hubbub._websocket import WebSocketEndpoint, max_message_chars
from hubbub.asgi import HubApplication
from hubbub.testing import _session_cookie
from tests import servers
from tests.hubbub.server import running
from tests.websocket import socket, ws_url

PUBLISH_TOKEN = tokens.mint(servers.PUBLISHER_KEY, publish=["*"])
pytestmark = [pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]


async def post(hub: str, **fields: Any) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.post(hub, data=fields, headers={"Authorization": f"Bearer {PUBLISH_TOKEN}"})
    assert response.status_code == 200, response.text
    return response.text.strip()


def unique(name: str) -> str:
    return f"https://example.com/{name}/{random.random()}"


# Against real server processes: embedded, and PostgreSQL + Redis.


async def test_live_delivery_with_all_fields(hub_server):
    topic = unique("books")
    async with socket(ws_url(hub_server.url)) as client:
        await client.subscribe("books", topic.rsplit("/", 1)[0] + "/{id}")
        update_id = await post(hub_server.hub, topic=topic, data="one\ntwo", type="book", retry="1500")
        [event] = await client.events(1)
        assert event == {
            "type": "event",
            "subscription": "books",
            "id": update_id,
            "event": "book",
            "topics": [topic],
            "data": "one\ntwo",
            "retry": 1500,
        }


async def test_private_updates_reach_only_authorized_subscriptions(hub_server):
    topic = unique("private")
    subscribe_token = tokens.mint(servers.SUBSCRIBER_KEY, subscribe=[topic])
    async with (
        socket(ws_url(hub_server.url), cookie=f"mercureAuthorization={subscribe_token}") as by_cookie,
        socket(ws_url(hub_server.url)) as by_message,
        socket(ws_url(hub_server.url)) as anonymous,
    ):
        await by_message.send(type="auth", token=subscribe_token, ref=1)
        assert (await by_message.expect("authenticated")) == {"type": "authenticated", "ref": 1}
        for client in (by_cookie, by_message, anonymous):
            await client.subscribe("s", topic)
        secret = await post(hub_server.hub, topic=topic, data="secret", private="on")
        public = await post(hub_server.hub, topic=topic, data="public")
        for client in (by_cookie, by_message):
            assert [e["id"] for e in await client.events(2)] == [secret, public]
        [event] = await anonymous.events(1)
        assert (event["id"], event["data"]) == (public, "public")
        assert await anonymous.silent(0.3)


async def test_resume_after_a_dropped_socket_exactly_once_in_order(hub_server):
    topic = unique("resume")
    async with socket(ws_url(hub_server.url)) as client:
        await client.subscribe("r", topic)
        first = await post(hub_server.hub, topic=topic, data="1")
        assert [e["id"] for e in await client.events(1)] == [first]
    missed = [await post(hub_server.hub, topic=topic, data=str(n)) for n in (2, 3, 4)]
    async with socket(ws_url(hub_server.url)) as client:
        await client.subscribe("r", topic, last_event_id=first)
        assert [e["id"] for e in await client.events(3)] == missed
        live = await post(hub_server.hub, topic=topic, data="5")
        assert [e["id"] for e in await client.events(1)] == [live]
        assert await client.silent(0.3)


async def test_publish_over_the_socket(hub_server):
    topic = unique("published")
    async with socket(ws_url(hub_server.url)) as publisher, socket(ws_url(hub_server.url)) as reader:
        await reader.subscribe("in", topic)
        await publisher.send(type="publish", ref="p1", topics=[topic], data="x")
        refused = await publisher.expect("error")
        assert (refused["status"], refused["ref"], refused["request"]) == (401, "p1", "publish")
        await publisher.send(type="auth", token=PUBLISH_TOKEN)
        await publisher.expect("authenticated")
        await publisher.send(type="publish", ref="p2", topics=[topic], data="hello", event="greeting", id="urn:ws:1")
        assert (await publisher.expect("published")) == {"type": "published", "id": "urn:ws:1", "ref": "p2"}
        [event] = await reader.events(1)
        assert (event["id"], event["event"], event["data"]) == ("urn:ws:1", "greeting", "hello")
        # Retried with the same id: answered with it, delivered no more.
        await publisher.send(type="publish", ref="p3", topics=[topic], data="hello", event="greeting", id="urn:ws:1")
        assert (await publisher.expect("published"))["id"] == "urn:ws:1"
        assert await reader.silent(0.3)


@pytest.mark.postgres
@pytest.mark.redis
async def test_two_workers_deliver_to_sockets_and_resume_across_workers_and_a_restart(scaled_deployment):
    """Published over a socket on one worker, delivered to sockets on another; a socket that
    drops resumes on the other worker, then after a restart, each update once, in order."""
    one, two = scaled_deployment.start(), scaled_deployment.start(workers=2)
    topic = unique("workers")
    try:
        async with socket(ws_url(one.url)) as publisher:
            await publisher.send(type="auth", token=PUBLISH_TOKEN)
            await publisher.expect("authenticated")

            async def publish(data: str) -> str:
                await publisher.send(type="publish", topics=[topic], data=data)
                return (await publisher.expect("published"))["id"]

            async with socket(ws_url(two.url)) as a, socket(ws_url(two.url)) as b:
                await a.subscribe("w", topic)
                await b.subscribe("w", topic)
                first = await publish("1")
                for client in (a, b):
                    assert [e["id"] for e in await client.events(1, timeout=10)] == [first]
            missed = [await publish(str(n)) for n in (2, 3)]
            async with socket(ws_url(one.url)) as again:
                await again.subscribe("w", topic, last_event_id=first)
                assert [e["id"] for e in await again.events(2)] == missed
                last_seen = missed[-1]
            two = two.restart()
            more = [await publish(str(n)) for n in (4, 5)]
            async with socket(ws_url(two.url)) as after_restart:
                await after_restart.subscribe("w", topic, last_event_id=last_seen)
                assert [e["id"] for e in await after_restart.events(2, timeout=10)] == more
                live = await publish("6")
                assert [e["id"] for e in await after_restart.events(1, timeout=10)] == [live]
                assert await after_restart.silent(0.3)
    finally:
        one.stop()
        two.stop()


# In the test's own loop: limits, errors and close codes.


@pytest.fixture
async def hub_socket() -> AsyncIterator[str]:
    """The URL of the hub's WebSocket on a uvicorn server in this loop (with the hub's protocols)."""
    async with running(HubApplication(_not_found)) as server:
        yield f"ws://127.0.0.1:{server.port}/.well-known/mercure"


async def _not_found(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close"})
        return
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def test_bad_frames_are_answered_and_the_other_subscriptions_go_on(settings):
    settings.HUBBUB_MAX_DATA_BYTES = 1000
    settings.HUBBUB_MAX_TOPICS = 2
    settings.HUBBUB_MAX_TOPIC_LENGTH = 100
    async with running(HubApplication(_not_found)) as server:
        async with socket(f"ws://127.0.0.1:{server.port}/.well-known/mercure") as client:
            await client.subscribe("keep", "t")
            bad: list[tuple[Any, int, str]] = [
                ("not json", 400, "not JSON"),
                (b"\x00binary", 400, "text frames"),
                ("[1, 2]", 400, "JSON object"),
                ({"type": "dance"}, 400, '"type" must be one of'),
                ({"type": "subscribe", "id": 7, "topics": ["x"]}, 400, '"id" must be a string'),
                ({"type": "subscribe", "id": "keep", "topics": ["x"]}, 400, "already open"),
                ({"type": "subscribe", "id": "n", "topics": "x"}, 400, '"topics" must be a list of non-empty strings'),
                ({"type": "subscribe", "id": "n", "topics": [1]}, 400, '"topics" must be a list of non-empty strings'),
                ({"type": "subscribe", "id": "n", "match": [""]}, 400, '"match" must be a list of non-empty strings'),
                ({"type": "subscribe", "id": "n"}, 400, 'needs "match"'),
                ({"type": "subscribe", "id": "n", "topics": ["x"], "match": ["y"]}, 400, "not both"),
                ({"type": "subscribe", "id": "n", "match_urlpattern": ["https://x/(?=a)"]}, 400, "not a URL Pattern"),
                ({"type": "subscribe", "id": "n", "match": ["a\u200bb"]}, 400, "invisible"),
                ({"type": "subscribe", "id": "n", "topics": ["x"], "last_event_id": "#x"}, 400, "must not start"),
                ({"type": "subscribe", "id": "n", "topics": ["x"], "last_event_id": 3}, 400, "must be a string"),
                ({"type": "subscribe", "id": "n", "topics": ["x"] * 65}, 413, "more than 64"),
                ({"type": "unsubscribe", "id": "nope"}, 404, "no subscription 'nope'"),
                ({"type": "auth", "token": "not-a-jwt"}, 401, "invalid token"),
                ({"type": "auth"}, 400, '"token" must be'),
                ("x" * (max_message_chars() + 1), 413, "longer than"),
            ]
            for frame, status, reason in bad:
                await client.connection.send(json.dumps(frame) if isinstance(frame, (dict, list)) else frame)
                error = await client.expect("error")
                assert error["status"] == status and reason in error["reason"], (frame, error)
                assert "\n" not in error["reason"]
            update = await hubbub.apublish("t", "still here")
            [event] = await client.events(1)
            assert (event["subscription"], event["id"]) == ("keep", update)


async def test_publish_errors_carry_the_http_statuses(hub_socket):
    limited = tokens.mint_token(publish=["allowed"])
    async with socket(hub_socket) as client:
        await client.send(type="auth", token=limited)
        await client.expect("authenticated")
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({"topics": ["other"], "data": "x"}, 403, "does not allow publishing to other"),
            ({"topics": [], "data": "x"}, 400, '"topics" must be'),
            ({"topics": ["allowed"], "data": 3}, 400, "data must be a string"),
            ({"topics": ["allowed"], "private": "yes"}, 400, '"private"'),
            ({"topics": ["allowed"], "id": "#x"}, 400, "must not start with '#'"),
            ({"topics": ["allowed"], "retry": "soon"}, 400, '"retry"'),
            ({"topics": ["allowed"], "data": "x" * (1024 * 1024 + 1)}, 413, "data is larger"),
        ]
        for fields, status, reason in cases:
            await client.send(type="publish", ref="r", **fields)
            error = await client.expect("error")
            assert (error["status"], error["ref"]) == (status, "r") and reason in error["reason"], (fields, error)
        subscriber_only = tokens.mint_token(subscribe=["*"])
        await client.send(type="auth", token=subscriber_only)
        await client.expect("authenticated")
        await client.send(type="publish", topics=["allowed"])
        assert (await client.expect("error"))["status"] == 401  # not signed with the publisher key
        await client.send(type="ping", ref=5)
        assert (await client.expect("pong")) == {"type": "pong", "ref": 5}
        # The client offered per-message compression: refused, each event is encoded once for all.
        assert client.connection.request.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
        assert "Sec-WebSocket-Extensions" not in client.connection.response.headers


async def test_unsubscribe_stops_delivery_and_the_subscription_limit(hub_socket, settings):
    settings.HUBBUB_MAX_SUBSCRIPTIONS_PER_SOCKET = None
    async with socket(hub_socket) as client:
        for n in range(70):
            await client.subscribe(str(n), "t")
    settings.HUBBUB_MAX_SUBSCRIPTIONS_PER_SOCKET = 2
    async with socket(hub_socket) as client:
        await client.subscribe("a", "t")
        await client.subscribe("b", "t")
        await client.send(type="subscribe", id="c", topics=["t"])
        error = await client.expect("error")
        assert (error["status"], error["id"]) == (429, "c") and "at most 2" in error["reason"]
        first = await hubbub.apublish("t", "both")
        events = await client.events(2)
        assert sorted(e["subscription"] for e in events) == ["a", "b"] and {e["id"] for e in events} == {first}
        await client.send(type="unsubscribe", id="a")
        assert (await client.expect("unsubscribed")) == {"type": "unsubscribed", "id": "a"}
        await client.subscribe("c", "u")
        second = await hubbub.apublish("t", "b only")
        [event] = await client.events(1)
        assert (event["subscription"], event["id"]) == ("b", second)
        assert await client.silent(0.2)


async def test_origin_is_checked_like_allowed_hosts(hub_socket, settings):
    with pytest.raises(InvalidStatus) as refused:
        async with socket(hub_socket, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    async with socket(hub_socket, origin="http://localhost:8000") as client:  # in ALLOWED_HOSTS
        await client.subscribe("a", "t")
    settings.HUBBUB_CORS_ALLOWED_ORIGINS = ["https://app.example"]
    async with socket(hub_socket, origin="https://app.example") as client:
        await client.subscribe("a", "t")


async def test_connection_limit_closes_with_4429(hub_socket, settings):
    settings.HUBBUB_MAX_CONNECTIONS_PER_IP = 1
    async with socket(hub_socket) as first, socket(hub_socket) as second:
        code, reason = await second.closed()
        assert code == 4429 and "too many open streams from 127.0.0.1" in reason
        await first.subscribe("a", "t")


async def test_expired_token_closes_with_4401_unless_renewed(hub_socket):
    private = "https://example.com/private"
    short = tokens.mint_token(subscribe=[private], expires_in=2)
    async with (
        socket(hub_socket, cookie=f"mercureAuthorization={short}") as renewed,
        socket(hub_socket, cookie=f"mercureAuthorization={short}") as expiring,
    ):
        for client in (renewed, expiring):
            await client.subscribe("p", private)
        await renewed.send(type="auth", token=tokens.mint_token(subscribe=[private], expires_in=60))
        await renewed.expect("authenticated")
        assert await expiring.closed(6) == (4401, "token expired")
        update = await hubbub.apublish(private, "still", private=True)
        assert [e["id"] for e in await renewed.events(1)] == [update]


async def test_anonymous_subscribers_refused_when_the_hub_says_so(hub_socket, settings):
    settings.HUBBUB_ANONYMOUS_SUBSCRIBERS = False
    async with socket(hub_socket) as client:
        await client.send(type="subscribe", id="a", topics=["t"])
        error = await client.expect("error")
        assert (error["status"], error["id"]) == (401, "a")
        await client.send(type="auth", token=tokens.mint_token(subscribe=["t"]))
        await client.expect("authenticated")
        await client.subscribe("a", "t")


async def test_too_slow_a_reader_is_closed_with_4408(hub_socket, settings):
    settings.HUBBUB_SUBSCRIBER_BUFFER = 2
    async with socket(hub_socket) as client:
        await client.subscribe("a", "t")
        hub = fanout.current()
        [subscription] = hub.subscriptions
        # As if the client had fallen behind: no event goes straight to the connection.
        subscription.attach(None)
        for n in range(5):  # pushed at once, before the socket's writer can run
            hub.dispatch(Update.create("t", str(n)), hub.last_seq + 1 + n)
        code, reason = await client.closed()
        assert code == 4408 and reason.startswith("too slow")


async def test_while_the_client_keeps_up_events_go_straight_to_the_connection(hub_socket):
    async with socket(hub_socket) as client:
        await client.subscribe("a", "t")
        hub = fanout.current()
        [subscription] = hub.subscriptions
        assert subscription.socket.write_now is not None
        seq = hub.last_seq
        assert subscription._writer is subscription.socket.transport is not None
        for n in range(5):
            hub.dispatch(Update.create("t", str(n), id=f"direct-{n}"), seq + 1 + n)
            assert not subscription.queued  # written, not handed to the socket's writer task
        assert [event["id"] for event in await client.events(5)] == [f"direct-{n}" for n in range(5)]


async def test_a_reader_that_stopped_reading_is_dropped(settings):
    settings.HUBBUB_WRITE_TIMEOUT_SECONDS = 0.3
    settings.HUBBUB_HEARTBEAT_SECONDS = 0.1
    async with running(WebSocketEndpoint(), send_buffer=4096) as server:
        url = f"ws://127.0.0.1:{server.port}/.well-known/mercure"
        async with socket(url, max_queue=1, max_size=None) as client:
            await client.subscribe("a", "t")
            client.connection.transport.pause_reading()  # the client stops reading
            for n in range(40):
                await hubbub.apublish("t", str(n) * 65536)
            async with asyncio.timeout(10):
                while server.connections:
                    await asyncio.sleep(0.05)
            assert fanout.current().subscriptions == set()


async def test_channel_layer_lost_closes_with_1013_and_lifetime_with_1001(hub_socket, settings):
    async with socket(hub_socket) as client:
        await client.subscribe("a", "t")
        fanout.current().close_all("channel layer unreachable")
        assert await client.closed() == (1013, "channel layer unreachable")
    settings.HUBBUB_MAX_CONNECTION_SECONDS = 0.3
    async with socket(hub_socket) as client:
        await client.subscribe("a", "t")
        assert await client.closed() == (1001, "maximum connection lifetime reached")


async def test_session_user_private_updates_and_reauthorize_closes_with_4403(hub_socket, settings):
    from tests.hubbub import test_authorization

    settings.HUBBUB_AUTHORIZERS = ["tests.hubbub.test_authorization.grant"]
    alice = await sync_to_async(User.objects.create_user)("alice")
    test_authorization.GRANTS[alice.pk] = ["/secret"]
    try:
        cookie = await sync_to_async(_session_cookie)(alice)
        async with socket(hub_socket, cookie=cookie) as signed_in, socket(hub_socket) as anonymous:
            await signed_in.subscribe("s", "/secret")
            await anonymous.subscribe("s", "/secret")
            secret = await hubbub.apublish("/secret", "for alice", private=True)
            assert [e["id"] for e in await signed_in.events(1)] == [secret]
            assert await anonymous.silent(0.2)
            await hubbub.areauthorize(alice)
            assert await signed_in.closed() == (4403, "the user's authorization changed")
    finally:
        test_authorization.GRANTS.clear()


async def test_too_big_a_frame_closes_with_1009(settings):
    settings.HUBBUB_MAX_DATA_BYTES = 1000
    settings.HUBBUB_MAX_TOPICS = 2
    settings.HUBBUB_MAX_TOPIC_LENGTH = 100
    async with running(WebSocketEndpoint()) as server:
        async with socket(f"ws://127.0.0.1:{server.port}/.well-known/mercure") as client:
            await client.connection.send("x" * (2 * max_message_chars() + 1))
            code, _ = await client.closed()
            assert code == 1009


async def test_a_malformed_authorization_header_closes_with_4401(hub_socket):
    async with socket(hub_socket, additional_headers={"Authorization": "Basic abc"}) as client:
        assert await client.closed() == (4401, "the Authorization header must be 'Bearer <token>'")


async def test_sessions_unreachable_close_with_1013(hub_socket, settings, monkeypatch):
    from hubbub import _websocket

    def unreachable(scope: Any, cookies: Any) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(_websocket, "_session_user", unreachable)
    settings.HUBBUB_ANONYMOUS_SUBSCRIBERS = False
    async with socket(hub_socket, cookie="sessionid=abc") as client:
        assert await client.closed() == (1013, "sessions unreachable")


async def test_server_shutting_down_closes_with_1012():
    async with AsyncExitStack() as stack:
        async with running(WebSocketEndpoint()) as server:
            client = await stack.enter_async_context(socket(f"ws://127.0.0.1:{server.port}/.well-known/mercure"))
            await client.subscribe("a", "t")
        assert (await client.closed())[0] == 1012
        assert fanout.current().subscriptions == set()


async def test_on_another_server_events_go_through_plain_asgi_messages():
    """Without the hub's protocol (daphne, Channels' test communicator), the same messages go
    through ``websocket.send``."""
    scope = {"type": "websocket", "path": "/.well-known/mercure", "headers": [], "query_string": b""}
    communicator = ApplicationCommunicator(WebSocketEndpoint(), {**scope, "client": ("127.0.0.1", 5000)})
    await communicator.send_input({"type": "websocket.connect"})
    assert (await communicator.receive_output(5))["type"] == "websocket.accept"
    await communicator.send_input({"type": "websocket.receive", "text": '{"type":"subscribe","id":"a","topics":["t"]}'})
    assert json.loads((await communicator.receive_output(5))["text"]) == {"type": "subscribed", "id": "a"}
    update = await hubbub.apublish("t", "plain")
    event = json.loads((await communicator.receive_output(5))["text"])
    assert (event["subscription"], event["id"], event["data"]) == ("a", update, "plain")
    await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
    await communicator.wait(5)
    assert fanout.current().subscriptions == set()


async def test_hooks_that_cannot_read_the_database_answer_503_and_the_socket_goes_on(hub_socket, settings, monkeypatch):
    from hubbub import _websocket
    from tests.hubbub import test_authorization

    def unreachable(user: Any, selectors: Any) -> None:
        raise OperationalError("connection refused\nDETAIL: the server is down")

    settings.HUBBUB_AUTHORIZERS = ["tests.hubbub.test_authorization.grant"]
    alice = await sync_to_async(User.objects.create_user)("alice")
    test_authorization.GRANTS[alice.pk] = ["/secret"]
    monkeypatch.setattr(_websocket, "_user_grants", unreachable)
    try:
        async with socket(hub_socket, cookie=await sync_to_async(_session_cookie)(alice)) as client:
            await client.send(type="subscribe", id="s", topics=["/secret"])
            error = await client.expect("error")
            assert (error["status"], error["id"]) == (503, "s")
            assert error["reason"] == "the authorization hooks could not read the database: connection refused"
            await client.send(type="ping")
            await client.expect("pong")
    finally:
        test_authorization.GRANTS.clear()


async def test_mercure_1_0_matchers_and_draft07_topics_over_the_socket(hub_socket, settings):
    async with socket(hub_socket) as client:
        await client.send(type="subscribe", id="exact", match=["https://example.com/books/{id}"])
        assert (await client.expect("subscribed"))["id"] == "exact"
        await client.send(type="subscribe", id="pattern", match_urlpattern=["https://example.com/books/:id"])
        assert (await client.expect("subscribed"))["id"] == "pattern"
        await client.subscribe("template", "https://example.com/books/{id}")
        one = await hubbub.apublish("https://example.com/books/1", "one")
        braces = await hubbub.apublish("https://example.com/books/{id}", "braces")
        # Exact is byte for byte; the URL parser escapes the braces, a path segment to ":id"; a
        # URI template's expansion has no braces.
        events = await client.events(4)
        assert sorted((e["subscription"], e["id"]) for e in events) == sorted(
            [("pattern", one), ("template", one), ("pattern", braces), ("exact", braces)]
        )
        assert await client.silent(0.2)
    settings.HUBBUB_MERCURE_DRAFT07 = False
    async with socket(hub_socket) as client:
        await client.send(type="subscribe", id="old", topics=["t"])
        error = await client.expect("error")
        assert error["status"] == 400 and "turned off" in error["reason"]


async def test_an_idle_socket_is_pinged_at_each_heartbeat_and_a_busy_one_is_not(hub_socket, settings):
    from hubbub._websocket import PING_FRAME

    settings.HUBBUB_HEARTBEAT_SECONDS = 0.1
    async with socket(hub_socket) as client:
        await client.subscribe("a", "t")
        [subscription] = fanout.current().subscriptions
        written: list[bytes] = []
        transport = subscription._writer

        class Recording:
            def write(self, data: bytes) -> None:
                written.append(data)
                transport.write(data)

            def __getattr__(self, name: str) -> Any:
                return getattr(transport, name)

        subscription.attach(Recording())
        await asyncio.sleep(0.5)
        assert written.count(PING_FRAME) >= 2  # and the client, answering with pongs, stays open
        written.clear()
        for n in range(8):  # busy: an event every 50 ms
            await hubbub.apublish("t", str(n))
            await asyncio.sleep(0.05)
        assert PING_FRAME not in written[2:]
        assert len(await client.events(8)) == 8
