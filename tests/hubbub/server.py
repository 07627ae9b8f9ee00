"""A real uvicorn server in the test's own event loop, and raw socket clients, for the tests of
what only a socket shows: clients that never read, heads too large or too slow, slow bodies.

The server runs the hub's protocol (``hubbub._server``) unless told otherwise, on 127.0.0.1,
and shares the test's loop, so that the test can publish and look at the fan-out directly.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import uvicorn

from hubbub import _server
from hubbub._endpoint import MercureEndpoint


@dataclass
class Running:
    server: uvicorn.Server
    port: int

    @property
    def connections(self) -> int:
        """Connections the server holds open."""
        return len(self.server.server_state.connections)


@asynccontextmanager
async def running(
    app: Any = None, *, protocol: type[asyncio.Protocol] | None = None, send_buffer: int | None = None
) -> AsyncIterator[Running]:
    """A uvicorn server of ``app`` (the hub's endpoint by default). ``send_buffer``: the
    kernel's send buffer of each accepted socket, in bytes (small: a client that does not read
    blocks the server's writes sooner)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if send_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)  # accepted sockets inherit it
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    options = _server.uvicorn_options()
    if protocol is not None:
        options["http"] = protocol
    config = uvicorn.Config(
        app or MercureEndpoint(), lifespan="off", log_config=None, timeout_graceful_shutdown=1, **options
    )
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)  # as Server.serve does, which would also take the signals
    await server.startup(sockets=[sock])
    try:
        yield Running(server, sock.getsockname()[1])
    finally:
        server.should_exit = True
        await server.shutdown(sockets=[sock])


async def connect(port: int, *, receive_buffer: int | None = None) -> socket.socket:
    """A non-blocking client socket connected to the server; ``receive_buffer`` as ``send_buffer``."""
    client = socket.socket()
    if receive_buffer is not None:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    client.setblocking(False)
    await asyncio.get_running_loop().sock_connect(client, ("127.0.0.1", port))
    return client


async def open_stream(port: int, query: str, *, receive_buffer: int | None = None) -> socket.socket:
    """A raw client subscribed with ``query`` (``match=t``), once the hub's first bytes of the
    stream (``retry:``) have arrived: the subscription is registered. Raises unless it is 200."""
    client = await connect(port, receive_buffer=receive_buffer)
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(client, f"GET /.well-known/mercure?{query} HTTP/1.1\r\nHost: hub\r\n\r\n".encode())
    head = b""
    async with asyncio.timeout(5):
        while b"retry:" not in head:
            head += await loop.sock_recv(client, 65536)
    assert status_of(head) == 200, head
    return client


async def read_until_closed(client: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection (or resets it); raises
    ``TimeoutError`` if it has not closed it within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    received = bytearray()
    async with asyncio.timeout(timeout):
        while True:
            try:
                chunk = await loop.sock_recv(client, 65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    return bytes(received)


async def send_slowly(client: socket.socket, data: bytes, *, pause: float) -> None:
    """``data`` one byte every ``pause`` seconds, until it is all sent or the server closes."""
    loop = asyncio.get_running_loop()
    with suppress(ConnectionError):
        for byte in data:
            await loop.sock_sendall(client, bytes([byte]))
            await asyncio.sleep(pause)


def status_of(response: bytes) -> int:
    """The status code of a raw HTTP/1.1 response."""
    return int(response.split(b" ", 2)[1])


def body_of(response: bytes) -> bytes:
    return response.partition(b"\r\n\r\n")[2]
