"""The hub's HTTP protocol for uvicorn: request heads bounded in size (431) and in time (408),
and connections an application drops; over real sockets, with both of uvicorn's parsers."""

from __future__ import annotations

import asyncio
import time

import pytest

from hubbub import _server
from tests.hubbub.server import body_of, connect, open_stream, read_until_closed, running, send_slowly, status_of

pytestmark = pytest.mark.timeout(30)
both = pytest.mark.parametrize(
    "protocol", [_server.H11HubProtocol, _server.HttpToolsHubProtocol], ids=["h11", "httptools"]
)


async def echo(scope, receive, send):
    """An application that answers 200 with the size of the request body."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = str(size).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(autouse=True)
def bounds(settings):
    settings.HUBBUB_MAX_HEADER_BYTES = 8192
    settings.HUBBUB_HEADER_TIMEOUT_SECONDS = 0.5


async def exchange(port: int, request: bytes) -> bytes:
    client = await connect(port)
    try:
        await asyncio.get_running_loop().sock_sendall(client, request)
        return await read_until_closed(client, 5)
    finally:
        client.close()


@both
async def test_a_head_over_the_limit_is_answered_431_and_closed(protocol):
    async with running(echo, protocol=protocol) as server:
        client = await connect(server.port)
        huge = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * (16 * 1024 * 1024)
        loop = asyncio.get_running_loop()
        sending = asyncio.ensure_future(loop.sock_sendall(client, huge))
        started = time.monotonic()
        response = await read_until_closed(client, 5)
        elapsed = time.monotonic() - started
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        client.close()
    assert status_of(response) == 431
    assert body_of(response) == b"the request head exceeds 8192 bytes\n"
    assert elapsed < 3  # uvicorn alone reads all 16 MB first


@both
async def test_heads_and_bodies_within_the_limit_are_served_on_one_connection(protocol):
    head = b"POST / HTTP/1.1\r\nHost: a\r\nX-Pad: " + b"p" * 6000 + b"\r\nContent-Length: 100000\r\n\r\n"
    close = head.replace(b"Host: a", b"Host: a\r\nConnection: close")
    async with running(echo, protocol=protocol) as server:
        # Two 6 kB heads and 100 kB bodies on one keep-alive connection: each head counts alone,
        # bodies not at all, and a head may arrive in the same packet as the body before it.
        response = await exchange(server.port, head + b"b" * 100_000 + close + b"b" * 100_000)
    assert response.count(b"HTTP/1.1 200 OK") == 2
    assert response.endswith(b"\r\n\r\n100000")


@both
async def test_pipelined_requests_are_answered_in_order(protocol):
    """Requests sent before the previous ones are answered queue up (httptools' protocol keeps
    them on the hub's own list-based queue)."""
    requests = b"".join(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n%s\r\n%s"
        % (size, b"Connection: close\r\n" if size == 333 else b"", b"b" * size)
        for size in (1, 22, 333)
    )
    async with running(echo, protocol=protocol) as server:
        response = await exchange(server.port, requests)
    answers = [part.split(b"\r\n\r\n", 1)[1] for part in response.split(b"HTTP/1.1 200 OK")[1:]]
    assert answers == [b"1", b"22", b"333"]


async def test_the_protocols_light_event_wakes_its_waiters():
    """uvicorn's events on every connection (flow control, request body) are the hub's list-based kind."""
    event = _server._Event()
    waiters = [asyncio.ensure_future(event.wait()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(waiter.done() for waiter in waiters) and len(event._waiters) == 2
    event.set()
    assert await asyncio.gather(*waiters) == [True, True] and event._waiters == []
    event.clear()
    assert not event.is_set() and _server._Event(is_set=True).is_set()


@both
async def test_a_head_that_does_not_arrive_in_time_is_answered_408(protocol):
    async with running(echo, protocol=protocol) as server:
        started = time.monotonic()
        client = await connect(server.port)
        trickle = asyncio.ensure_future(
            send_slowly(client, b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"s" * 100, pause=0.05)
        )
        response = await read_until_closed(client, 5)
        elapsed = time.monotonic() - started
        trickle.cancel()
        client.close()
    assert status_of(response) == 408
    assert body_of(response) == b"the request head did not arrive within 0.5 s\n"
    assert 0.5 <= elapsed < 3


@both
async def test_a_connection_that_sends_nothing_is_closed(protocol):
    async with running(echo, protocol=protocol) as server:
        client = await connect(server.port)
        assert await read_until_closed(client, 5) == b""
        client.close()
        assert server.connections == 0


@both
async def test_a_stream_is_not_timed_out_by_the_head_timer(protocol):
    async def stream(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(8):
            await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
            await asyncio.sleep(0.1)
        await send({"type": "http.response.body", "body": b""})

    async with running(stream, protocol=protocol) as server:
        response = await exchange(server.port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert status_of(response) == 200 and response.count(b"tick") == 8


@both
async def test_an_application_may_drop_its_connection(protocol, caplog):
    async def dropping(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        scope["extensions"][_server.DROP_CONNECTION]["drop"]()

    async with running(dropping, protocol=protocol) as server:
        response = await exchange(server.port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert server.connections == 0
    assert status_of(response) == 200 and response.endswith(b"partial\r\n")  # no final chunk
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


def test_the_hub_protocol_is_httptools_when_installed():
    options = _server.uvicorn_options()
    assert options["http"] is _server.HttpToolsHubProtocol
    assert options["h11_max_incomplete_event_size"] == 8192  # h11 too refuses longer heads


@both
async def test_an_application_may_write_its_chunked_body_directly_under_httptools(protocol):
    opened = []

    async def direct(scope, receive, send):
        open_writer = scope["extensions"][_server.DIRECT_WRITE]["open"]
        opened.append(open_writer())  # before the response: none
        await send({"type": "http.response.start", "status": 200, "headers": []})
        writer = open_writer()
        opened.append(writer)
        if writer is not None:
            writer.write(_server.frame(b"written directly"))
        else:
            await send({"type": "http.response.body", "body": b"written directly", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async with running(direct, protocol=protocol) as server:
        response = await exchange(server.port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert body_of(response) == b"10\r\nwritten directly\r\n0\r\n\r\n"
    assert opened[0] is None
    # h11 frames chunks itself: no direct writer there.
    assert (opened[1] is not None) is (protocol is _server.HttpToolsHubProtocol)


@pytest.mark.django_db(transaction=True)
async def test_under_the_hubs_server_the_fanout_writes_to_subscribers_directly():
    import re

    import hubbub
    from hubbub import _fanout as fanout

    hub = fanout.current()
    async with running(protocol=_server.HttpToolsHubProtocol) as server:
        client = await open_stream(server.port, "match=d")
        loop = asyncio.get_running_loop()
        [subscription] = hub.subscriptions
        assert subscription._writer is not None
        for n in range(3):
            await hubbub.apublish("d", f"event {n}", id=f"d{n}")
        received = b""
        async with asyncio.timeout(5):
            while received.count(b"data: event") < 3:
                received += await loop.sock_recv(client, 65536)
        client.close()
    assert re.findall(rb"id: (d\d)\n", received) == [b"d0", b"d1", b"d2"]


@pytest.mark.django_db(transaction=True)
async def test_under_the_hubs_server_a_stream_learns_of_its_clients_departure_without_a_watcher_task():
    from hubbub import _fanout as fanout

    hub = fanout.current()
    async with running(protocol=_server.HttpToolsHubProtocol) as server:
        client = await open_stream(server.port, "match=w")
        [subscription] = hub.subscriptions
        # No task waits on receive() for the disconnect.
        assert not [task for task in asyncio.all_tasks() if task.get_coro().__name__ == "_watch_disconnect"]
        client.close()
        deadline = time.monotonic() + 5
        while hub.subscriptions and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert subscription.closed and subscription.reason == "client disconnected"
        assert not hub.subscriptions


def test_uvicorn_does_not_ping_the_hubs_sockets_the_hub_pings_idle_ones():
    options = _server.uvicorn_options()
    assert options["ws"] is _server.WebSocketHubProtocol
    assert options["ws_ping_interval"] is None
