"""The HTTP protocol that ``runserver`` and ``serve`` run uvicorn with: uvicorn's, with bounded request heads.

uvicorn reads request heads (request line and headers) of any size and for any time: with
httptools a 100 MB header holds a worker for seconds, and a client that sends its headers a
byte at a time holds a connection for ever. The hub's protocol counts a head's bytes before the
parser sees them, answers ``431`` past ``HUBBUB_MAX_HEADER_BYTES`` and ``408`` when a head is
not complete within ``HUBBUB_HEADER_TIMEOUT_SECONDS`` (a connection that sends nothing at all
is closed then, without an answer), each with a one-line reason, and closes the connection.

It also offers applications the ``hubbub.drop_connection`` extension: a callable in
``scope["extensions"]["hubbub.drop_connection"]["drop"]`` that drops the connection at once,
with whatever was not yet written. The hub calls it for a subscriber that stopped reading:
uvicorn would otherwise wait for ever to flush the stream to a client that does not read.

And the ``hubbub.direct_write`` extension: ``scope["extensions"]["hubbub.direct_write"]["open"]()``,
called once the response has started with chunked encoding (and not ended), returns the
connection's transport, for the application to write already-framed chunks (``frame``) on
it, or None where that is not possible (h11's protocol, another response). Its
``on_lost(callback)`` has ``callback`` called when the connection is lost (``on_lost(None)``
forgets it): a stream learns that its client went away without a task of its own waiting on
``receive`` (each such task costs every open stream about a kilobyte). The fan-out
writes each event to every subscriber that way, framed once for all of them: no task wakes up
per subscriber and event, and uvicorn's ``send`` is not in the way.

``uvicorn_options()`` is what the commands pass to uvicorn: httptools' protocol when httptools
is installed (the ``hubbub[server]`` extra), else h11's, each with these bounds.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any, cast

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from . import _conf as conf

logger = logging.getLogger(__name__)

DROP_CONNECTION = "hubbub.drop_connection"
DIRECT_WRITE = "hubbub.direct_write"
# A client is behind when more than this waits in its connection's transport: uvicorn's own
# high-water mark, past which its ``send`` would wait. Until then events are written directly.
BEHIND_BYTES = 64 * 1024
SEND_TEXT = "hubbub.websocket_send_text"

_App = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


class _Cycle:
    """What the head limits read of uvicorn's request-response cycle (both protocols have one)."""

    scope: MutableMapping[str, Any]
    response_started: bool
    response_complete: bool
    disconnected: bool


def frame(chunk: bytes) -> bytes:
    """``chunk`` as one HTTP/1.1 chunk of a chunked response body."""
    return b"%x\r\n%s\r\n" % (len(chunk), chunk)


class _Extension:
    """``hubbub.drop_connection`` and ``hubbub.direct_write`` for one request: a mapping of
    their names to the protocol's callables, made when asked for (one small object a request,
    not a dictionary and a bound callable per name)."""

    __slots__ = ("protocol", "scope")

    def __init__(self, protocol: BoundedHead, scope: MutableMapping[str, Any]) -> None:
        self.protocol = protocol
        self.scope = scope

    def __getitem__(self, name: str) -> Callable[..., Any]:
        protocol = self.protocol
        if name == "drop":
            return functools.partial(protocol._drop, self.scope)
        if name == "open":
            return functools.partial(protocol._direct_writer, self.scope)
        if name == "on_lost":
            return functools.partial(protocol._watch, self.scope)
        raise KeyError(name)


class BoundedHead(asyncio.Protocol):
    """Request-head limits, mixed into one of uvicorn's HTTP protocols (listed after it in the bases).

    Each protocol says when the bytes that arrive belong to a request head (``_reading_head``);
    a head is fed to the parser only as far as the limit, and must be whole by then.
    """

    # Slots, not the instance dictionary of uvicorn's protocol: grown past its size, that
    # dictionary would cost each open connection more than a kilobyte.
    __slots__ = ("_max_head", "_head_seconds", "_head_bytes", "_heads", "_head_timer", "_refused", "_on_lost")

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    app: _App
    config: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_head: int | None = conf.get("HUBBUB_MAX_HEADER_BYTES")
        self._head_seconds: float | None = conf.get("HUBBUB_HEADER_TIMEOUT_SECONDS")
        self._head_bytes = 0
        self._heads = 0  # request heads read whole on this connection
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._on_lost: Callable[[], None] | None = None
        self.app = self._app

    async def _app(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        """The application, with the extensions in its scope (a protocol that can add them
        before its request's task runs sets ``app`` back to the application itself)."""
        self._extend(scope)
        await self.config.loaded_app(scope, receive, send)

    def _extend(self, scope: MutableMapping[str, Any]) -> None:
        # One object serves both extensions, for each request: each costs every open stream its memory.
        extensions = scope.get("extensions")
        if extensions is None:
            extensions = scope["extensions"] = {}
        extensions[DROP_CONNECTION] = extensions[DIRECT_WRITE] = _Extension(self, scope)

    def _reading_head(self) -> bool:
        """Whether the bytes that arrive now belong to a request head."""
        raise NotImplementedError

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)
        on_lost, self._on_lost = self._on_lost, None
        if on_lost is not None:
            on_lost()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if not self._reading_head():
            super().data_received(data)
            self._after_feed()
            return
        if self._head_timer is None:
            self._arm_head_timer()
        room = len(data) if self._max_head is None else self._max_head - self._head_bytes
        head = data if len(data) <= room else data[:room]
        self._head_bytes += len(head)
        heads = self._heads
        if head:
            super().data_received(head)
            self._after_feed()
        if len(head) == len(data) or self.transport.is_closing() or self.transport.get_protocol() is not self:
            return  # all fed; or answered (a malformed request), or handed to another protocol (WebSocket)
        if self._heads == heads:
            self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"the request head exceeds {self._max_head} bytes")
            return
        self.data_received(data[len(head) :])  # the head ended within the limit: the rest is a body, or the next head

    # The head's bounds

    def _after_feed(self) -> None:
        if not self._reading_head():
            self._end_head()

    def _end_head(self) -> None:
        self._heads += 1
        self._head_bytes = 0
        self._cancel_head_timer()

    def _arm_head_timer(self) -> None:
        if self._head_seconds is not None and self._head_timer is None:
            self._head_timer = self.loop.call_later(self._head_seconds, self._head_timeout)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._reading_head():
            return
        if self._head_bytes:
            self._refuse(HTTPStatus.REQUEST_TIMEOUT, f"the request head did not arrive within {self._head_seconds:g} s")
        else:
            self._refused = True
            self.transport.close()  # opened, and nothing sent

    def _refuse(self, status: HTTPStatus, reason: str) -> None:
        self._refused = True
        self._cancel_head_timer()
        client = self.transport.get_extra_info("peername")
        logger.info("hubbub: %d for %s: %s", status, client, reason)
        cycle = self._cycle()
        if cycle is not None and not cycle.response_complete:
            self.transport.abort()  # a head sent during a response: no room for an answer
            return
        body = (reason + "\n").encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\n" % (status, status.phrase.encode())
            + b"content-type: text/plain; charset=utf-8\r\n"
            + b"content-length: %d\r\n" % len(body)
            + b"connection: close\r\n\r\n"
            + body
        )
        self.transport.close()

    # hubbub.drop_connection

    def _drop(self, scope: MutableMapping[str, Any]) -> None:
        cycle = self._cycle()
        if cycle is not None and cycle.scope is scope and not cycle.response_complete:
            cycle.disconnected = True  # dropped on purpose: uvicorn need not report an unfinished response
        self.transport.abort()

    # hubbub.direct_write

    def _direct_writer(self, scope: MutableMapping[str, Any]) -> asyncio.WriteTransport | None:
        cycle = self._cycle()
        if (
            cycle is None
            or cycle.scope is not scope
            or not cycle.response_started
            or cycle.response_complete
            or cycle.disconnected
            or getattr(cycle, "chunked_encoding", None) is not True  # httptools' cycle; h11 frames itself
            or self.transport.is_closing()
        ):
            return None
        return self.transport

    def _watch(self, scope: MutableMapping[str, Any], callback: Callable[[], None] | None) -> bool:
        """Have ``callback`` called when the connection is lost (None: no longer); False if
        this is not the connection's current request (the caller then watches ``receive``)."""
        cycle = self._cycle()
        if cycle is None or cycle.scope is not scope or cycle.disconnected or self.transport.is_closing():
            return False
        self._on_lost = callback
        return True

    def _cycle(self) -> _Cycle | None:
        return cast("_Cycle | None", getattr(self, "cycle", None))


class H11HubProtocol(BoundedHead, H11Protocol):
    """uvicorn's h11 protocol with the hub's bounds (used where httptools is not installed)."""

    def _reading_head(self) -> bool:
        return bool(self.conn.their_state is h11.IDLE)


@functools.cache
def _httptools_protocol() -> type[asyncio.Protocol]:
    """The httptools protocol with the hub's bounds; raises ImportError without httptools.

    Built on first use, so that a process that does not serve (or serves on h11) never imports
    httptools, and reachable as ``hubbub._server.HttpToolsHubProtocol`` (see ``__getattr__``)
    for uvicorn's worker processes, which receive it pickled by name.
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HttpToolsHubProtocol(BoundedHead, HttpToolsProtocol):
        """uvicorn's httptools protocol with the hub's bounds.

        Its attributes of its own are slots: one set on the instance after uvicorn's
        ``__init__`` would turn the instance's shared-key dictionary into a dictionary of its
        own, about a kilobyte more for every open connection.
        """

        __slots__ = ("_in_head",)

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._in_head = True  # until the parser has the headers; again once the request is complete
            super().__init__(*args, **kwargs)
            self.app = self.config.loaded_app  # the extensions go in the scope before the request's task runs
            self.pipeline = _Pipeline()  # type: ignore[assignment]

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self.flow._is_writable_event = _Event(is_set=True)

        def _reading_head(self) -> bool:
            return self._in_head

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._end_head()
            super().on_headers_complete()
            cycle = self.cycle
            if cycle is not None and cycle.scope is self.scope:  # not for an upgrade
                cycle.message_event = _Event()  # no one waits on it yet: the request's task has not run
                self._extend(cast("MutableMapping[str, Any]", self.scope))

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head = True

    HttpToolsHubProtocol.__qualname__ = "HttpToolsHubProtocol"
    return HttpToolsHubProtocol


class _Event(asyncio.Event):
    """An ``asyncio.Event`` whose waiters are a list: the standard one's empty deque takes a
    block of 64 slots, and uvicorn keeps two events for every open connection (its flow
    control's, and its request's), where a stream has one waiter at most."""

    def __init__(self, *, is_set: bool = False) -> None:
        super().__init__()
        self._waiters: list[asyncio.Future[bool]] = []  # type: ignore[assignment]
        if is_set:
            self.set()


class _Pipeline(list[Any]):
    """uvicorn's queue of pipelined requests, with the two operations it uses of a deque, on a
    list: an empty deque takes a block of 64 slots on every connection, and requests are
    rarely pipelined."""

    def appendleft(self, item: Any) -> None:
        self.insert(0, item)


@functools.cache
def _websocket_protocol() -> type[asyncio.Protocol]:
    """uvicorn's WebSocket protocol (on the ``websockets`` package, sans-I/O) with two
    extensions: ``hubbub.drop_connection``, as the HTTP protocols have (a socket whose client
    stopped reading cannot even take a close frame), and ``hubbub.websocket_send_text``: an
    awaitable ``send(payload)`` that writes UTF-8 bytes already encoded as one text frame, with
    the same flow control as ``websocket.send`` (the hub's events are encoded once for every
    socket: this spares each delivery a decode, an encode and the framing library), and
    ``write(frame)``, which writes a whole frame (``text_frame``) at once and returns True
    while the client keeps up (False: queue it for ``send``), so that the fan-out needs no task
    to deliver an event.
    Raises ImportError without ``websockets`` (or with a uvicorn older than that protocol);
    reachable by name as ``WebSocketHubProtocol``."""
    from uvicorn.protocols.utils import ClientDisconnected
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    class WebSocketHubProtocol(WebSocketsSansIOProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            application = self.app

            async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
                extensions = scope.setdefault("extensions", {})
                extensions[DROP_CONNECTION] = {"drop": self._drop}
                extensions[SEND_TEXT] = {
                    "send": self._send_text,
                    "write": self._write_frame,
                    "transport": self.transport,
                }
                await application(scope, receive, send)

            self.app = app

        def _drop(self) -> None:
            self.transport.abort()

        async def _send_text(self, payload: bytes) -> None:
            await self.writable.wait()
            if self.disconnected or self.close_sent or not self.handshake_complete or self.transport.is_closing():
                raise ClientDisconnected()
            self.transport.write(text_frame(payload))

        def _write_frame(self, frame: bytes) -> bool:
            """Write a whole frame (``text_frame``) now if the client keeps up (nothing held
            back by flow control, at most ``BEHIND_BYTES`` waiting); False if the caller must
            queue it."""
            if (
                not self.writable.is_set()
                or self.disconnected
                or self.close_sent
                or not self.handshake_complete
                or self.transport.is_closing()
                or self.transport.get_write_buffer_size() > BEHIND_BYTES
            ):
                return False
            self.transport.write(frame)
            return True

    WebSocketHubProtocol.__qualname__ = "WebSocketHubProtocol"
    return WebSocketHubProtocol


def text_frame(payload: bytes) -> bytes:
    """``payload`` (UTF-8) as one unmasked WebSocket text frame (RFC 6455)."""
    length = len(payload)
    if length < 126:
        head = bytes((0x81, length))
    elif length < 65536:
        head = b"\x81\x7e" + length.to_bytes(2, "big")
    else:
        head = b"\x81\x7f" + length.to_bytes(8, "big")
    return head + payload


def __getattr__(name: str) -> Any:
    if name == "HttpToolsHubProtocol":
        return _httptools_protocol()
    if name == "WebSocketHubProtocol":
        return _websocket_protocol()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def protocol_class() -> type[asyncio.Protocol]:
    """httptools' protocol when httptools is installed (the ``hubbub[server]`` extra), else h11's."""
    try:
        return _httptools_protocol()
    except ImportError:
        return H11HubProtocol


def uvicorn_options() -> dict[str, Any]:
    """What ``runserver`` and ``serve`` pass to uvicorn's ``Config`` for the hub's protocols.

    WebSocket frames: a message larger than the hub answers with an error (twice its limit)
    closes the socket with 1009; no per-message compression, which would compress every
    event once per socket rather than once per update; no keepalive pings of uvicorn's (the
    hub pings idle sockets).
    """
    from ._websocket import max_message_chars

    options: dict[str, Any] = {
        "http": protocol_class(),
        "h11_max_incomplete_event_size": conf.get("HUBBUB_MAX_HEADER_BYTES"),
        "ws_max_size": 2 * max_message_chars(),
        "ws_per_message_deflate": False,
    }
    try:
        options["ws"] = _websocket_protocol()
    except ImportError:
        pass  # uvicorn's choice: wsproto if installed, else no WebSocket
    else:
        # The hub pings idle sockets itself, at each heartbeat (as it writes a comment to idle
        # SSE streams): uvicorn's ping of every socket every 20 s, busy or not, cost about 12%
        # of the fan-out's CPU with 10,000 sockets.
        options["ws_ping_interval"] = None
    return options
