"""Helpers for a project's own tests: an in-process subscriber, a capture of what was
published, and tokens signed with the configured keys.

``subscribe()`` opens a subscription on the hub's real endpoint, in the test's own event
loop (no server, no network): the selectors, the token, the Last-Event-ID and the signed-in
user reach the hub exactly as a browser's request would carry them, so the project's
authorizers (``HUBBUB_AUTHORIZERS``, the apps' ``hubbub_authorizers``) decide what it
receives. ``capture()`` records every update this process publishes, once it is
delivered (inside a transaction, at the commit). For example, with pytest-django and
pytest-asyncio::

    import pytest
    import hubbub
    from hubbub.testing import capture, subscribe

    @pytest.mark.django_db(transaction=True)
    async def test_a_new_review_is_pushed_to_the_books_page(alice):
        async with subscribe("/books/1", user=alice) as page:
            with capture() as published:
                await hubbub.apublish("/books/1", "5 stars", type="review")
            event = await page.next(timeout=5)
            assert (event.type, event.data) == ("review", "5 stars")
            assert [update.topics for update in published] == [("/books/1",)]
            assert await page.silent(0.3)  # nothing else arrives

A sync ``hubbub.publish`` inside ``transaction.atomic()`` is delivered when the transaction
commits; Django's ``TestCase`` (and ``django_db`` without ``transaction=True``) never
commits, so there wrap the code in ``TestCase.captureOnCommitCallbacks(execute=True)``
(pytest-django: the ``django_capture_on_commit_callbacks`` fixture), or use a transactional
test case.
"""

from __future__ import annotations

import asyncio
import codecs
import contextvars
import re
from asyncio import FIRST_COMPLETED
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib import import_module
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from . import _conf as conf, _publishing as publishing
from ._endpoint import MercureEndpoint
from ._tokens import mint_token
from ._updates import Update

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

__all__ = ["Event", "Subscriber", "subscribe", "capture", "publisher_token", "subscriber_token"]

#: How long ``subscribe()`` waits for the hub to answer, and for it to end the stream on exit.
ANSWER_TIMEOUT = 10.0
_LINE_END = re.compile(r"\r\n|\r|\n")
_Message = MutableMapping[str, Any]


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event, as a browser's ``EventSource`` dispatches it.

    ``type`` is the ``event:`` field, ``"message"`` when the update has no type (what
    ``onmessage`` receives); ``id`` is the event's id (as ``lastEventId``: the last id the
    stream sent); ``data`` joins the event's ``data:`` lines with newlines; ``retry`` is the
    reconnection time in milliseconds the event carried, or None.
    """

    id: str
    type: str
    data: str
    retry: int | None = None


class _EventParser:
    """The event-stream format of the HTML standard, fed with chunks of bytes as they come."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text = ""
        self._started = False
        self._data: list[str] = []
        self._type = ""
        self._retry: int | None = None
        self.last_id = ""
        self.reconnection_time: int | None = None

    def feed(self, chunk: bytes, *, final: bool = False) -> list[Event]:
        """The events that ``chunk`` completes; at the ``final`` chunk an unfinished event is dropped."""
        text = self._text + self._decoder.decode(chunk, final)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        events: list[Event] = []
        start = 0
        for end in _LINE_END.finditer(text):
            if end.group() == "\r" and end.end() == len(text) and not final:
                break  # maybe the first half of a CRLF
            self._line(text[start : end.start()], events)
            start = end.end()
        self._text = "" if final else text[start:]
        return events

    def _line(self, line: str, events: list[Event]) -> None:
        if not line:
            if self._data:
                events.append(Event(self.last_id, self._type or "message", "\n".join(self._data), self._retry))
            self._data, self._type, self._retry = [], "", None
            return
        if line.startswith(":"):
            return  # a comment (the hub's heartbeat)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._type = value
        elif name == "id":
            if "\x00" not in value:
                self.last_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = self.reconnection_time = int(value)


class _Events:
    """What every reader of an event stream offers over its own ``next()``: ``take`` and
    ``silent``, on the queue ``_events`` of events read but not yet taken."""

    _events: deque[Event]

    async def next(self, timeout: float = 5.0) -> Event:
        raise NotImplementedError

    async def take(self, count: int, timeout: float = 5.0) -> list[Event]:
        """The next ``count`` events, each within ``timeout`` seconds."""
        return [await self.next(timeout) for _ in range(count)]

    async def silent(self, seconds: float = 0.3) -> bool:
        """True if no event arrives within ``seconds`` (an event that does arrive is kept for
        ``next()``)."""
        try:
            event = await self.next(seconds)
        except (TimeoutError, EOFError):
            return True
        self._events.appendleft(event)
        return False


class Subscriber(_Events):
    """An open subscription on the hub's endpoint, made by ``subscribe()``.

    ``await next()`` is the next event, ``await take(n)`` the next n, ``await silent()`` is
    True when nothing arrives for a while. ``status`` and ``headers`` (lower-case names) are
    the hub's answer; when it refused the subscription (``status`` is not 200), ``reason`` is
    its one-line explanation and the stream has ``ended``, as it has once the hub closes it
    (an expired token, ``hubbub.reauthorize``, a subscriber too slow to keep up).
    """

    status: int
    headers: dict[str, str]
    reason: str
    ended: bool

    def __init__(self, scope: dict[str, Any], user: AbstractBaseUser | AnonymousUser | None = None) -> None:
        self._scope = scope
        self._user = user
        self._input: asyncio.Queue[_Message] = asyncio.Queue()
        self._output: asyncio.Queue[_Message] = asyncio.Queue()
        self._application: asyncio.Task[None] | None = None
        self._parser = _EventParser()
        self._events: deque[Event] = deque()
        self.status = 0
        self.headers = {}
        self.reason = ""
        self.ended = False

    @property
    def retry(self) -> int | None:
        """The reconnection time (ms) the hub announced last: the stream starts with one."""
        return self._parser.reconnection_time

    async def next(self, timeout: float = 5.0) -> Event:
        """The next event; raises ``TimeoutError`` if none arrives within ``timeout`` seconds
        (the subscription stays open) and ``EOFError`` once the hub has ended the stream."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._events:
            if self.ended:
                raise EOFError("the hub ended the stream")
            message = await self._receive(deadline - loop.time())
            self._read_body(message)
        return self._events.popleft()

    # The connection

    async def __aenter__(self) -> Subscriber:
        if self._application is not None:
            raise RuntimeError("a subscriber connects once: call subscribe() again for another")
        if self._user is not None and not isinstance(self._user, AnonymousUser):
            cookie = await sync_to_async(_session_cookie)(self._user)
            self._scope["headers"].append((b"cookie", cookie.encode("latin-1")))
        # As a server runs each request: in a context of its own, not the test's.
        self._application = contextvars.Context().run(
            asyncio.create_task, MercureEndpoint()(self._scope, self._input.get, self._output.put)
        )
        try:
            await self._input.put({"type": "http.request", "body": b"", "more_body": False})
            start = await self._receive(ANSWER_TIMEOUT)
            if start.get("type") != "http.response.start":
                raise RuntimeError(f"the hub answered with {start!r}, not a response")
            self.status = start["status"]
            for name, value in start.get("headers", []):
                key = bytes(name).decode("latin-1").lower()
                text = bytes(value).decode("latin-1")
                self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text
            if self.status != 200:
                body = b""
                while not self.ended:
                    message = await self._receive(ANSWER_TIMEOUT)
                    body += message.get("body", b"")
                    self.ended = not message.get("more_body", False)
                self.reason = body.decode("utf-8", "replace").strip()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        """Disconnect as a browser leaving the page does, and wait until the hub has let go."""
        application = self._application
        if application is None:
            return
        if not application.done():
            await self._input.put({"type": "http.disconnect"})
            await asyncio.wait({application}, timeout=ANSWER_TIMEOUT)
        if not application.done():
            await self._stop()
            if kind is None:
                raise RuntimeError(f"the hub did not end the stream within {ANSWER_TIMEOUT} s of the disconnect")
        elif kind is None and not application.cancelled():
            application.result()  # the hub's own failure, if any

    async def _receive(self, timeout: float) -> _Message:
        """The hub's next ASGI message; a timeout leaves the subscription open."""
        assert self._application is not None
        if self._output.empty():
            getter = asyncio.ensure_future(self._output.get())
            try:
                await asyncio.wait({getter, self._application}, timeout=max(timeout, 0), return_when=FIRST_COMPLETED)
            finally:
                if not getter.done():
                    getter.cancel()
                    with suppress(asyncio.CancelledError):
                        await getter
            if getter.done() and not getter.cancelled():
                return getter.result()
            if not self._application.done():
                raise TimeoutError("nothing arrived within the timeout")
            if self._output.empty():
                self._application.result()  # raises the hub's failure, if it failed
                raise EOFError("the hub ended the response without finishing it")
        return self._output.get_nowait()

    def _read_body(self, message: _Message) -> None:
        if message.get("type") != "http.response.body":
            raise RuntimeError(f"the hub sent {message!r} in the middle of a response")
        self.ended = not message.get("more_body", False)
        self._events.extend(self._parser.feed(message.get("body", b""), final=self.ended))

    async def _stop(self) -> None:
        if self._application is not None and not self._application.done():
            self._application.cancel()
            with suppress(asyncio.CancelledError):
                await self._application


def subscribe(
    *selectors: str,
    user: AbstractBaseUser | AnonymousUser | None = None,
    token: str | None = None,
    last_event_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    draft: Literal[7, 8] | None = None,
    url_patterns: Iterable[str] = (),
) -> Subscriber:
    """An in-process subscriber to the hub, for ``async with``.

    ``selectors`` are sent as ``topic`` parameters (exact topics, ``*`` or URI templates) with
    ``draft=7``; with ``draft=8`` (Mercure 1.0) as ``match`` parameters (exact topics or ``*``),
    and ``url_patterns`` as ``match_urlpattern`` ones. Unset, ``draft`` is 8 with
    ``url_patterns`` or when ``HUBBUB_MERCURE_DRAFT07`` is False, else 7.
    ``user``, a saved Django user, is signed in with a session of its own whose cookie comes
    with the request (an anonymous user subscribes anonymously); ``token`` goes in an
    ``Authorization: Bearer`` header (see ``subscriber_token``); ``last_event_id`` in a
    ``Last-Event-ID`` header, to resume after that id (``"earliest"``: all history kept).
    ``headers`` and ``query`` add request headers and query parameters as they are (a
    ``cookie`` header is sent besides the session's). Leaving the block disconnects and
    waits for the hub to release the subscription.
    """
    url_patterns = list(url_patterns)
    if draft is None:
        draft = 8 if url_patterns or not conf.get("HUBBUB_MERCURE_DRAFT07") else 7
    if draft == 7 and url_patterns:
        raise ValueError("URL Pattern matchers are Mercure 1.0's: subscribe with draft=8")
    parameters = [("topic" if draft == 7 else "match", selector) for selector in selectors]
    parameters += [("match_urlpattern", pattern) for pattern in url_patterns]
    parameters += list(query.items() if isinstance(query, Mapping) else query or [])
    request_headers = [(name.lower(), value) for name, value in (headers or {}).items()]
    if token is not None:
        request_headers.append(("authorization", f"Bearer {token}"))
    if last_event_id is not None:
        request_headers.append(("last-event-id", last_event_id))
    query_string = urlencode(parameters).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/.well-known/mercure",
        "raw_path": b"/.well-known/mercure",
        "query_string": query_string,
        "root_path": "",
        "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in request_headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    return Subscriber(scope, user)


def _session_cookie(user: AbstractBaseUser) -> str:
    """A new session in which ``user`` is signed in (as ``Client.force_login`` makes one),
    as a ``Cookie`` header's value."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend

    pk_field = user._meta.pk
    if pk_field is None or user.pk is None:
        raise ValueError("subscribe(user=...) needs a saved user")
    backend = getattr(user, "backend", None)
    if backend is None:
        backends = (path for path in settings.AUTHENTICATION_BACKENDS if hasattr(load_backend(path), "get_user"))
        backend = next(backends, None)
        if backend is None:
            raise ValueError("no authentication backend in AUTHENTICATION_BACKENDS can load a signed-in user")
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = pk_field.value_to_string(user)
    session[BACKEND_SESSION_KEY] = backend
    if hasattr(user, "get_session_auth_hash"):
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


@contextmanager
def capture() -> Iterator[list[Update]]:
    """Record the updates this process publishes while the block runs, in the order they
    are acknowledged (stored, and so delivered, if need be once the channel layer is back):
    ``hubbub.publish`` (inside a transaction, at the commit; nothing for one rolled back),
    ``hubbub.apublish``, and publications over HTTP to this process's endpoint. A publication
    that fails is not recorded. Captures may be nested: each records."""
    published: list[Update] = []
    observer = published.append
    publishing.observers.append(observer)
    try:
        yield published
    finally:
        publishing.observers.remove(observer)


def publisher_token(*selectors: str | Mapping[str, str], draft: Literal[7, 8] | None = None) -> str:
    """A token that may publish to ``selectors`` (default ``*``: every topic), signed with
    the configured publisher key.

    ``draft=8`` mints a Mercure 1.0 access token (for ``HUBBUB_TOKEN_AUDIENCE``): each
    selector is then an exact topic, ``*``, or ``{"match": ..., "match_type": "urlpattern"}``.
    Unset: draft 7 unless ``HUBBUB_MERCURE_DRAFT07`` is False.
    """
    return mint_token(publish=list(selectors or ["*"]), draft=draft)


def subscriber_token(
    *selectors: str | Mapping[str, str], expires_in: float | None = None, draft: Literal[7, 8] | None = None
) -> str:
    """A token that may receive the private updates of ``selectors``, signed with the
    configured subscriber key; it expires after ``expires_in`` seconds if given (a Mercure
    1.0 token always expires: by default after an hour). With no selectors it authenticates
    the subscriber (``HUBBUB_ANONYMOUS_SUBSCRIBERS = False``) and grants nothing private.
    ``draft`` as for ``publisher_token``.
    """
    return mint_token(subscribe=list(selectors), expires_in=expires_in, draft=draft)
