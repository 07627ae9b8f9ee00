"""Requests to the project's own views over the hub's WebSocket (``request`` messages).

A page that holds a socket sends its small requests (a chat post, a typing notice, a
presence beat) through it rather than as HTTP requests of their own: each is handed to the
project's ASGI application as the HTTP request the page would have made, with the cookies,
Host and Origin of the socket's handshake, and its answer comes back as a ``response``
message. Django's middleware (sessions, authentication, CSRF, the views' own checks) sees an
ordinary request.

Only a page of this site may do so (a socket whose Origin is one of ``ALLOWED_HOSTS``, or a
client that is no browser): a page of another origin that ``HUBBUB_CORS_ALLOWED_ORIGINS``
lets use the hub must not read the project's pages with a visitor's cookies. The browser does
not store the cookies a tunnelled answer sets: requests that sign in or out go over HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from . import _conf as conf
from .asgi import Message, Scope
from .exceptions import HubbubError, InvalidUpdate, UpdateTooLarge

Application = Callable[..., Awaitable[None]]

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
MAX_HEADERS = 32
MAX_HEADER_CHARS = 8192
MAX_RESPONSE_BYTES = 1024 * 1024
# The handshake's headers that are the socket's own, not the requests'.
SOCKET_HEADERS = frozenset(
    {b"upgrade", b"connection", b"content-length", b"content-type", b"accept", b"transfer-encoding"}
)
# Headers a page's request may not set (as fetch() may not): the handshake's stand.
FORBIDDEN = ("host", "cookie", "origin", "referer", "content-length", "connection", "upgrade", "transfer-encoding")
FORBIDDEN_PREFIXES = ("sec-", "proxy-", "x-forwarded-", "forwarded")


class Failed(HubbubError):
    """The view could not be run to its answer (HTTP's 502 / 504)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def request_scope(socket: Scope, request: dict[str, Any], hub_path: str) -> tuple[Scope, bytes]:
    """The HTTP scope and body of a ``request`` message sent on the socket of ``socket``."""
    method = request.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise InvalidUpdate(f'"method" must be one of {", ".join(sorted(METHODS))}')
    target = request.get("path")
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        raise InvalidUpdate('"path" must be a path of this site, starting with "/"')
    parts = urlsplit(target)
    if parts.path == hub_path:
        raise InvalidUpdate("the hub itself is not reachable through its socket")
    body = request.get("body", "")
    if not isinstance(body, str):
        raise InvalidUpdate('"body" must be a string')
    encoded = body.encode()
    if len(encoded) > conf.get("HUBBUB_MAX_DATA_BYTES"):
        raise UpdateTooLarge(f"the body is larger than {conf.get('HUBBUB_MAX_DATA_BYTES')} bytes")
    given = request.get("headers", {})
    if not isinstance(given, dict) or len(given) > MAX_HEADERS:
        raise InvalidUpdate(f'"headers" must be an object of at most {MAX_HEADERS} names and string values')
    headers = [(name, value) for name, value in socket["headers"] if name not in SOCKET_HEADERS]
    headers = [(name, value) for name, value in headers if not name.startswith(b"sec-websocket-")]
    for name, value in given.items():
        if not isinstance(value, str) or len(name) + len(value) > MAX_HEADER_CHARS:
            raise InvalidUpdate(f'"headers" must be an object of at most {MAX_HEADERS} names and string values')
        lowered = name.lower()
        if lowered in FORBIDDEN or lowered.startswith(FORBIDDEN_PREFIXES):
            raise InvalidUpdate(f"the header {name!r} is the socket's own")
        try:
            headers.append((lowered.encode("latin-1"), value.encode("latin-1")))
        except UnicodeEncodeError:
            raise InvalidUpdate("header names and values must be Latin-1 text") from None
    headers.append((b"content-length", str(len(encoded)).encode()))
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": "https" if socket.get("scheme") == "wss" else "http",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "root_path": socket.get("root_path", ""),
        "headers": headers,
        "client": socket.get("client"),
        "server": socket.get("server"),
        "state": dict(socket.get("state", {})),
    }
    return scope, encoded


async def forward(application: Application, scope: Scope, body: bytes) -> tuple[int, dict[str, str], str]:
    """Run the request through the application; its status, headers (without ``set-cookie``)
    and text body. Raises ``Failed`` for an answer too large, too late or never given."""
    answered = asyncio.Event()
    sent = False
    status = 0
    headers: dict[str, str] = {}
    chunks: list[bytes] = []
    size = 0

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
            for name, value in message.get("headers", []):
                if name.lower() != b"set-cookie":
                    headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise Failed(502, f"the answer is larger than {MAX_RESPONSE_BYTES} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                answered.set()

    seconds: float = conf.get("HUBBUB_BODY_TIMEOUT_SECONDS")
    try:
        async with asyncio.timeout(seconds):
            await application(scope, receive, send)
    except TimeoutError:
        raise Failed(504, f"the view did not answer within {seconds:g} s") from None
    finally:
        answered.set()
    if not status:
        raise Failed(502, "the view gave no answer")
    return status, headers, b"".join(chunks).decode("utf-8", "replace")
