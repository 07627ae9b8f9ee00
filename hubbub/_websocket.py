"""The hub over a WebSocket: ``/.well-known/mercure`` upgraded, as a plain ASGI application.

One socket carries any number of subscriptions (each a ``Subscription`` on the same fan-out
as the server-sent event streams, with the same selectors, grants, history replay and
exactly-once resume), publishes, and pings, in the small JSON protocol of docs/websocket.md.
The fan-out encodes each update once for all sockets (``Update.encode_json``); a socket's
subscription only puts its own prefix (the message type and its id) in front.

A request that fails (bad JSON, a field of the wrong type, a topic not allowed) is answered
with an ``error`` message carrying the HTTP status the same request gets over HTTP; the
socket and its other subscriptions go on. The socket itself is closed, with a code that says
why (``CLOSE_CODES``), only when it cannot go on: the token expired, the client is too slow,
a limit, the channel layer lost, the server going away.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.http.cookie import parse_cookie
from django.http.request import validate_host

from . import (
    _authorization as authorization,
    _conf as conf,
    _fanout as fanout,
    _history as history,
    _limits as limits,
    _publishing as publishing,
    _tokens as tokens,
    _tunnel as tunnel,
)
from ._background import in_background
from ._selectors import NOTHING, InvalidPattern, SelectorSet
from ._server import DROP_CONNECTION, SEND_TEXT, text_frame
from ._subscriptions import HEARTBEAT, Subscription
from ._sync import run_sync
from ._updates import Update, check_event_id, check_text
from .asgi import Message, Receive, Scope, Send
from .exceptions import HistoryUnavailable, HubbubError, InvalidUpdate, UpdateTooLarge

logger = logging.getLogger(__name__)


# Close codes (RFC 6455's where one fits, else 4000 + the HTTP status of the same reason).
GOING_AWAY = 1001  # the stream's maximum lifetime: reconnect and resume
TRY_AGAIN_LATER = 1013  # the channel layer or the history is unreachable
AUTHORIZATION_EXPIRED = 4401  # the socket's token expired: reconnect with a fresh one
AUTHORIZATION_CHANGED = 4403  # the session user's grants changed (hubbub.reauthorize): reconnect
TOO_SLOW = 4408  # the client did not keep up (buffer full, or a write pending too long)
OVER_LIMIT = 4429  # a connection limit (HUBBUB_MAX_CONNECTIONS...)

MAX_SUBSCRIPTION_ID = 256
# A ping frame without payload (RFC 6455): what an idle socket gets at each heartbeat.
PING_FRAME = b"\x89\x00"
# The longest reason a close frame carries (125 bytes of payload, 2 for the code).
MAX_CLOSE_REASON = 123


def max_message_chars() -> int:
    """The longest message the hub reads (longer: an ``error`` 413): a publish of the largest
    data, every character escaped in JSON, and of the most topics."""
    topics: int = conf.get("HUBBUB_MAX_TOPICS") * (conf.get("HUBBUB_MAX_TOPIC_LENGTH") * 6 + 8)
    data: int = conf.get("HUBBUB_MAX_DATA_BYTES")
    return data * 6 + topics + 16 * 1024


class RequestError(HubbubError):
    """A request the socket cannot serve, with the status HTTP gives it."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


async def _claims(token: str | None, use: Literal["publish", "subscribe"], hub_url: str) -> tokens.Claims | None:
    """The claims of the socket's token for one use; None without a token. The one place
    this module verifies tokens (``hub_url``: the audience of Mercure 1.0 tokens)."""
    if token is None:
        return None
    return await tokens.adecode(token, use, hub_url=hub_url)


def origin_allowed(origin: bytes | None) -> bool:
    """As Channels' ``AllowedHostsOriginValidator``: the Origin's host is in ALLOWED_HOSTS (with
    DEBUG's local defaults), or the Origin is in HUBBUB_CORS_ALLOWED_ORIGINS. A request without
    Origin comes from no browser (browsers always send it on a WebSocket), so it cannot carry a
    visitor's cookies to a foreign page: it is allowed."""
    if same_site(origin):
        return True
    allowed_origins = conf.get("HUBBUB_CORS_ALLOWED_ORIGINS")
    return "*" in allowed_origins or origin is not None and origin.decode("latin-1") in allowed_origins


def same_site(origin: bytes | None) -> bool:
    """Whether the socket comes from a page of this site (its Origin's host is in ALLOWED_HOSTS),
    or from no browser (no Origin)."""
    if origin is None:
        return True
    text = origin.decode("latin-1")
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return False
    if not host:
        return False
    allowed_hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]
    return validate_host(host if ":" not in host else f"[{host}]", allowed_hosts)


_last_frame: tuple[bytes, bytes, bytes] = (b"", b"", b"")


def _frame(prefix: bytes, message: bytes) -> bytes:
    """A subscription's event as a text frame. The fan-out hands every socket the same message
    object, and most pages name their subscription alike (hubbub.js: ``page-1``): the last
    frame built is reused for them all."""
    global _last_frame
    last_message, last_prefix, frame = _last_frame
    if last_message is not message or last_prefix != prefix:
        frame = text_frame(prefix + message)
        _last_frame = (message, prefix, frame)
    return frame


class SocketSubscription(Subscription):
    """One subscription of a socket: its events wait here and wake the socket's writer."""

    __slots__ = ("key", "prefix", "socket", "queued")

    over_socket = True

    def __init__(
        self, socket: Connection, key: str, selectors: SelectorSet, grants: SelectorSet, user: str | None
    ) -> None:
        super().__init__(
            selectors,
            grants,
            conf.get("HUBBUB_SUBSCRIBER_BUFFER"),
            limit_bytes=conf.get("HUBBUB_SUBSCRIBER_BUFFER_BYTES"),
            replaying=True,  # until the ack (and the replay, if any) are sent: see Connection.subscribe
            user=user,
            write_timeout=conf.get("HUBBUB_WRITE_TIMEOUT_SECONDS"),
        )
        self.key = key
        self.prefix = b'{"type":"event","subscription":' + json.dumps(key).encode() + b","
        self.socket = socket
        self.queued = False
        self.task = socket.writer

    def _direct(self) -> asyncio.WriteTransport | None:
        writer = super()._direct()
        return None if writer is None or writer.is_closing() else writer

    def _write(self, writer: asyncio.WriteTransport, chunk: bytes, framed: bytes | None) -> None:
        writer.write(_frame(self.prefix, chunk))

    def _beat(self, writer: asyncio.WriteTransport) -> None:
        writer.write(PING_FRAME)  # the client answers with a pong

    def _wake(self) -> None:
        if not self.queued:
            self.queued = True
            self.socket.wake(self)

    def take_messages(self) -> list[bytes]:
        """The events waiting, as whole messages. A heartbeat (an idle stream's) becomes a
        ping of the socket (``Connection.ping_due``): under the hub's server the hub, not
        uvicorn, keeps sockets alive, and only idle ones, as it does SSE streams."""
        prefix = self.prefix
        if HEARTBEAT in self._chunks:
            self.socket.ping_due = True
        chunks = [prefix + chunk for chunk in self._chunks if chunk is not HEARTBEAT]
        self._chunks.clear()
        self._size = 0
        self.queued = False
        return chunks


class Connection:
    """One open socket: its subscriptions, its token, its writer task."""

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
        application: Callable[[], tunnel.Application],
    ) -> None:
        self.scope = scope
        self.application = application
        self.same_site = same_site(headers.get(b"origin"))
        self.receive = receive
        self.send = send
        self.headers = headers
        cookie = headers.get(b"cookie")
        self.cookies = parse_cookie(cookie.decode("latin-1")) if cookie else {}
        self.query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        host = headers.get(b"host", b"").decode("latin-1")
        self.hub_url = f"{'https' if scope.get('scheme') == 'wss' else 'http'}://{host}{scope.get('path', '')}"
        self.subscriptions: dict[str, SocketSubscription] = {}
        self.token: str | None = None
        self.user: object = None  # the session user (a Django user), when the hub needs one
        self.user_key: str | None = None
        self.writer: asyncio.Task[None] | None = None
        self.ping_due = False
        self.closing = False
        self._ready: list[SocketSubscription] = []
        self._waiter: asyncio.Future[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._expires: float | None = None
        self._lifetime: asyncio.TimerHandle | None = None
        self._main = asyncio.current_task()
        self._max_chars = max_message_chars()
        fast = (scope.get("extensions") or {}).get(SEND_TEXT)
        self.send_text: Callable[[bytes], Awaitable[None]] = fast["send"] if fast is not None else self._send_text
        self.write_now: Callable[[bytes], bool] | None = fast.get("write") if fast is not None else None
        self.transport: asyncio.WriteTransport | None = fast.get("transport") if fast is not None else None

    async def _send_text(self, message: bytes) -> None:
        await self.send({"type": "websocket.send", "text": message.decode()})

    # Sending

    async def reply(self, message: dict[str, Any]) -> None:
        await self.send({"type": "websocket.send", "text": json.dumps(message, ensure_ascii=False)})

    async def error(self, status: int, reason: str, request: dict[str, Any] | None) -> None:
        one_line = reason.splitlines()[0] if reason else reason
        message: dict[str, Any] = {"type": "error", "status": status, "reason": one_line}
        if isinstance(request, dict):
            message["request"] = request.get("type") if isinstance(request.get("type"), str) else None
            for field in ("id", "ref"):
                if field in request:
                    message[field] = request[field]
        await self.reply(message)

    def wake(self, subscription: SocketSubscription) -> None:
        self._ready.append(subscription)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def write(self) -> None:
        """The writer: sends each subscription's events as they come, one message each."""
        send_text = self.send_text
        try:
            while True:
                while not self._ready:
                    self._waiter = asyncio.get_running_loop().create_future()
                    try:
                        await self._waiter
                    finally:
                        self._waiter = None
                ready, self._ready = self._ready, []
                for subscription in ready:
                    if subscription.closed:
                        if self.subscriptions.get(subscription.key) is subscription:
                            self.close_soon(*_close_code(subscription.reason))
                            return
                        continue
                    messages = subscription.take_messages()
                    if not messages:
                        continue
                    subscription.sending_since = time.monotonic()
                    for message in messages:
                        await send_text(message)
                    subscription.sending_since = 0.0
                if self.ping_due:
                    self.ping_due = False
                    if self.write_now is not None:
                        self.write_now(PING_FRAME)  # the client answers with a pong
        except asyncio.CancelledError:
            abandoned = next((s for s in self.subscriptions.values() if s.abandoned), None)
            if abandoned is None:
                raise
            logger.info("hubbub: dropped a WebSocket that stopped reading (%s)", abandoned.reason)
            self.drop()
        except OSError:
            pass  # the client went away: the receive loop hears of it

    def detach(self) -> None:
        """No more events straight to the connection: it is closing (nothing may follow the
        close frame)."""
        self.transport = None
        for subscription in self.subscriptions.values():
            subscription.attach(None)

    def drop(self) -> None:
        """Drop the connection at once (where the server offers it), and end the socket."""
        self.closing = True
        self.detach()
        drop = (self.scope.get("extensions") or {}).get(DROP_CONNECTION)
        if drop is not None:
            drop["drop"]()
        elif self._main is not None:
            self._main.cancel()

    def close_soon(self, code: int, reason: str) -> None:
        if not self.closing:
            self.closing = True
            self.detach()
            in_background(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        encoded = reason.encode()[:MAX_CLOSE_REASON].decode("utf-8", "ignore")
        try:
            async with asyncio.timeout(5):
                await self.send({"type": "websocket.close", "code": code, "reason": encoded})
        except (TimeoutError, OSError, RuntimeError):
            self.drop()

    # The session

    async def run(self) -> None:
        try:
            self.token, _ = tokens.find(self.headers, self.query, self.cookies)
        except (tokens.InvalidToken, tokens.InvalidRequest) as error:
            await self.send({"type": "websocket.accept"})
            await self.send({"type": "websocket.close", "code": AUTHORIZATION_EXPIRED, "reason": str(error)})
            return
        client = self.scope.get("client")
        if self.wants_user():
            try:
                self.user, self.user_key = await run_sync(_session_user, self.scope, self.cookies)
            except DatabaseError as error:
                await self.send({"type": "websocket.accept"})
                await self.send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": "sessions unreachable"})
                logger.warning("hubbub: cannot read the session of a WebSocket: %s", error)
                return
        await self.send({"type": "websocket.accept"})
        try:
            lease = limits.connections.acquire(
                address=client[0] if client else None, user=self.user_key, token=self.token
            )
        except limits.TooManyConnections as error:
            await self.send({"type": "websocket.close", "code": OVER_LIMIT, "reason": str(error)})
            return
        hub = fanout.current()
        self.writer = asyncio.ensure_future(self.write())
        lifetime: float | None = conf.get("HUBBUB_MAX_CONNECTION_SECONDS")
        if lifetime is not None:
            self._lifetime = asyncio.get_running_loop().call_later(
                lifetime * random.uniform(0.9, 1.0), self.close_soon, GOING_AWAY, "maximum connection lifetime reached"
            )
        try:
            while True:
                message = await self.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if self.closing:
                    continue
                await self.handle(message)
        except asyncio.CancelledError:
            if not self.closing:
                raise
        except OSError:
            pass  # ClientDisconnected while answering
        finally:
            lease.release()
            for timer in (self._expiry, self._lifetime):
                if timer is not None:
                    timer.cancel()
            self.writer.cancel()
            for subscription in list(self.subscriptions.values()):
                subscription.close("client disconnected")
                await hub.remove(subscription)

    def wants_user(self) -> bool:
        """Whether the session user matters (as over SSE: hooks to ask, or anonymous refused)."""
        if "user" not in self.scope and settings.SESSION_COOKIE_NAME not in self.cookies:
            return False
        return bool(authorization.authorizers()) or not conf.get("HUBBUB_ANONYMOUS_SUBSCRIBERS")

    async def handle(self, message: Message) -> None:
        text = message.get("text")
        request: Any = None
        try:
            if text is None:
                raise InvalidUpdate("messages must be text frames holding JSON")
            if len(text) > self._max_chars:
                raise UpdateTooLarge(f"the message is longer than {self._max_chars} characters")
            try:
                request = json.loads(text)
            except ValueError:
                raise InvalidUpdate("the message is not JSON") from None
            if not isinstance(request, dict):
                raise InvalidUpdate("the message must be a JSON object")
            kind = request.get("type")
            if kind == "subscribe":
                await self.subscribe(request)
            elif kind == "unsubscribe":
                await self.unsubscribe(request)
            elif kind == "publish":
                await self.publish(request)
            elif kind == "auth":
                await self.authenticate(request)
            elif kind == "request":
                await self.request(request)
            elif kind == "ping":
                await self.reply({"type": "pong", **_ref(request)})
            else:
                raise InvalidUpdate('"type" must be one of subscribe, unsubscribe, publish, request, auth, ping')
        except HubbubError as error:
            await self.error(error.status, str(error), request if isinstance(request, dict) else None)

    async def claims(self, use: Literal["publish", "subscribe"]) -> tokens.Claims | None:
        claims = await _claims(self.token, use, self.hub_url)
        if claims is not None and claims.expires is not None:
            self.expire_at(claims.expires)
        return claims

    def expire_at(self, expires: float) -> None:
        """Close the socket (4401) when its token expires; a fresh ``auth`` moves the time."""
        if self._expires is not None and self._expires <= expires and self._expiry is not None:
            return
        if self._expiry is not None:
            self._expiry.cancel()
        self._expires = expires
        self._expiry = asyncio.get_running_loop().call_later(
            max(0.0, expires - time.time()), self.close_soon, AUTHORIZATION_EXPIRED, "token expired"
        )

    # Requests

    async def authenticate(self, request: dict[str, Any]) -> None:
        token = request.get("token")
        if not isinstance(token, str) or not token:
            raise InvalidUpdate('"token" must be a non-empty string')
        verified = None
        for use in ("subscribe", "publish"):
            try:
                verified = await _claims(token, use, self.hub_url)
                break
            except tokens.InvalidToken as error:
                failure = error
        if verified is None:
            raise failure
        self.token = token
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
            self._expires = None
        if verified.expires is not None:
            self.expire_at(verified.expires)
        await self.reply({"type": "authenticated", **_ref(request)})

    async def subscribe(self, request: dict[str, Any]) -> None:
        key = request.get("id")
        if not isinstance(key, str) or not key or len(key) > MAX_SUBSCRIPTION_ID:
            raise InvalidUpdate(f'"id" must be a string of 1 to {MAX_SUBSCRIPTION_ID} characters')
        if key in self.subscriptions:
            raise InvalidUpdate(f"subscription {key!r} is already open on this socket")
        most = conf.get("HUBBUB_MAX_SUBSCRIPTIONS_PER_SOCKET")
        if most is not None and len(self.subscriptions) >= most:
            raise RequestError(429, f"a socket holds at most {most} subscriptions")
        selectors = self.selectors(request)
        last_event_id = request.get("last_event_id")
        if last_event_id is not None:
            if not isinstance(last_event_id, str):
                raise InvalidUpdate('"last_event_id" must be a string')
            check_event_id(last_event_id)
        claims = await self.claims("subscribe")
        grants = claims.subscribe if claims is not None and claims.subscribe is not None else NOTHING
        if self.user_key is not None:
            try:
                grants = grants | await run_sync(_user_grants, self.user, selectors.matchers)
            except DatabaseError as error:
                raise RequestError(503, f"the authorization hooks could not read the database: {error}") from error
        elif claims is None and not conf.get("HUBBUB_ANONYMOUS_SUBSCRIBERS"):
            raise RequestError(401, "subscribing requires a JWT or a signed-in session")
        templates = conf.get("HUBBUB_MAX_ANONYMOUS_TEMPLATES")
        if claims is None and self.user_key is None and len(selectors.patterns) > templates:
            raise InvalidUpdate(
                f"subscribers without a token or session may use at most {templates} URI templates or URL Patterns"
            )

        subscription = SocketSubscription(self, key, selectors, grants, self.user_key)
        hub = fanout.current()
        await hub.add(subscription)  # LayerUnavailable or HistoryUnavailable (503) when it cannot
        self.subscriptions[key] = subscription
        try:
            after = 0
            if last_event_id:
                _, after = await run_sync(history.read_fresh, history.resume_point, last_event_id)
        except DatabaseError as error:
            del self.subscriptions[key]
            await hub.remove(subscription)
            raise HistoryUnavailable(f"the update history is unreachable: {error}") from error
        await self.reply({"type": "subscribed", "id": key})
        if last_event_id:
            after = await self.replay(subscription, after)
        subscription.finish_replay(after)
        if self.transport is not None and not self.closing:
            # While the client keeps up, events go straight to the connection (Subscription).
            subscription.attach(self.transport)

    def selectors(self, request: dict[str, Any]) -> SelectorSet:
        """A subscribe request's matchers: Mercure 1.0's ``match`` (exact) and
        ``match_urlpattern``, or draft-07's ``topics`` (selectors with URI templates)."""
        fields: dict[str, list[str]] = {}
        for name in ("match", "match_urlpattern", "topics"):
            value = request.get(name)
            if value is None:
                continue
            if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
                raise InvalidUpdate(f'"{name}" must be a list of non-empty strings')
            fields[name] = value
        if not any(fields.values()):
            raise InvalidUpdate('a subscription needs "match" or "match_urlpattern" (or draft-07\'s "topics")')
        if fields.get("topics") and (fields.get("match") or fields.get("match_urlpattern")):
            raise InvalidUpdate('a subscription uses "topics" (draft-07) or "match" (Mercure 1.0), not both')
        if fields.get("topics") and not conf.get("HUBBUB_MERCURE_DRAFT07"):
            raise InvalidUpdate('draft-07 subscriptions ("topics") are turned off on this hub: use "match"')
        every = [item for value in fields.values() for item in value]
        most = conf.get("HUBBUB_MAX_SELECTORS")
        if len(every) > most:
            raise UpdateTooLarge(f"more than {most} topic selectors")
        longest = conf.get("HUBBUB_MAX_TOPIC_LENGTH")
        for item in every:
            if len(item) > longest:
                raise UpdateTooLarge(f"a topic selector is longer than {longest} characters")
            check_text(item, "a topic selector")
        try:
            return SelectorSet(
                fields.get("topics", ()),
                exact=fields.get("match", ()),
                url_patterns=fields.get("match_urlpattern", ()),
                base=self.hub_url,
            )
        except InvalidPattern as error:
            raise InvalidUpdate(str(error)) from None

    async def replay(self, subscription: SocketSubscription, after: int) -> int:
        """Send the stored updates after ``after`` that the subscription wants; returns the last seq read."""
        while not subscription.closed:
            try:
                batch = await run_sync(history.read_fresh, history.batch_after, after)
            except DatabaseError as error:
                subscription.close("update history unreachable")
                logger.warning("hubbub: cannot replay the history: %s", error)
                break
            if not batch:
                break
            after = batch[-1][0]
            for _, update in batch:
                if subscription.wants(update):
                    subscription.sending_since = time.monotonic()
                    await self.send_text(subscription.prefix + update.encode_json())
                    subscription.sending_since = 0.0
        return after

    async def unsubscribe(self, request: dict[str, Any]) -> None:
        key = request.get("id")
        if not isinstance(key, str):
            raise InvalidUpdate('"id" must be the string id of an open subscription')
        subscription = self.subscriptions.pop(key, None)
        if subscription is None:
            raise RequestError(404, f"no subscription {key!r} is open on this socket")
        await fanout.current().remove(subscription)
        subscription.close("unsubscribed")
        await self.reply({"type": "unsubscribed", "id": key})

    async def request(self, request: dict[str, Any]) -> None:
        """A request to the project's views (``hubbub._tunnel``), answered with its response."""
        if not self.same_site:
            raise RequestError(403, "requests over the socket are for this site's own pages only")
        scope, body = tunnel.request_scope(self.scope, request, self.scope.get("path", ""))
        status, headers, text = await tunnel.forward(self.application(), scope, body)
        await self.reply({"type": "response", **_ref(request), "status": status, "headers": headers, "body": text})

    async def publish(self, request: dict[str, Any]) -> None:
        claims = await self.claims("publish")
        if claims is None:
            raise RequestError(401, "publishing requires a JWT (the cookie, or an auth message)")
        if claims.publish is None:
            raise RequestError(403, "the token carries no mercure.publish claim")
        topics = request.get("topics")
        if not isinstance(topics, list) or not topics:
            raise InvalidUpdate('"topics" must be a non-empty list of topics')
        data = request.get("data", "")
        private = request.get("private", False)
        if not isinstance(private, bool):
            raise InvalidUpdate('"private" must be true or false')
        for field in ("id", "event"):
            if request.get(field) is not None and not isinstance(request[field], str):
                raise InvalidUpdate(f'"{field}" must be a string')
        retry = request.get("retry")
        if retry is not None and (isinstance(retry, bool) or not isinstance(retry, int) or retry < 0):
            raise InvalidUpdate('"retry" must be a non-negative integer')
        update = Update.create(
            topics, data, private=private, type=request.get("event"), id=request.get("id"), retry=retry
        )
        if not claims.publish.match_all(update.topics):
            raise RequestError(
                403,
                "the token does not allow publishing to "
                + ", ".join(t for t in update.topics if not claims.publish.match(t)),
            )
        await publishing.adeliver(update)
        await self.reply({"type": "published", "id": update.id, **_ref(request)})


def _ref(request: dict[str, Any]) -> dict[str, Any]:
    """The request's ``ref``, echoed in its answer."""
    return {"ref": request["ref"]} if "ref" in request else {}


def _close_code(reason: str) -> tuple[int, str]:
    """The close code that says why a subscription of the socket was closed by the hub."""
    if reason.startswith(("too slow", "write timeout")):
        return TOO_SLOW, reason
    if reason == "the user's authorization changed":
        return AUTHORIZATION_CHANGED, reason
    if reason in ("channel layer unreachable", "update history unreachable"):
        return TRY_AGAIN_LATER, reason
    return GOING_AWAY, reason


def _session_user(scope: Scope, cookies: dict[str, str]) -> tuple[object, str | None]:
    """The signed-in user (Channels' ``AuthMiddlewareStack``'s ``scope["user"]``, else the
    session cookie's) and its key; (None, None) for no one."""
    close_old_connections()
    user = scope.get("user")
    if user is None:
        user = authorization.user_from_cookies(cookies)
    if not getattr(user, "is_authenticated", False):
        return None, None
    return user, authorization.user_key(user)


def _user_grants(user: object, selectors: list[str]) -> SelectorSet:
    close_old_connections()
    return authorization.granted_to_user(user, selectors)


class WebSocketEndpoint:
    """The ASGI application of the hub's WebSocket (``scope["type"] == "websocket"``).

    ``application`` is the project's, which ``request`` messages reach (by default Django's,
    ``get_asgi_application()``, made on first use).
    """

    def __init__(self, application: tunnel.Application | None = None) -> None:
        self._application = application

    def project_application(self) -> tunnel.Application:
        if self._application is None:
            from django.core.asgi import get_asgi_application

            self._application = get_asgi_application()
        return self._application

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "websocket"
        publishing.mark_serving()
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers[name] = headers[name] + b"; " + value if name == b"cookie" and name in headers else value
        if not origin_allowed(headers.get(b"origin")):
            logger.info("hubbub: WebSocket refused from origin %r", headers.get(b"origin"))
            await send({"type": "websocket.close", "code": 1008})  # before accepting: HTTP 403
            return
        await Connection(scope, receive, send, headers, self.project_application).run()
