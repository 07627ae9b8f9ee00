"""The Mercure endpoint, ``/.well-known/mercure``, as a plain ASGI application.

GET subscribes (a server-sent events stream), POST publishes, OPTIONS answers CORS
preflights. It bypasses Django's request/response cycle on purpose: a subscription is a
long-lived stream on the fan-out's hot path, so it writes straight to the ASGI ``send``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.http.cookie import parse_cookie

from . import (
    _authorization as authorization,
    _conf as conf,
    _fanout as fanout,
    _history as history,
    _limits as limits,
    _publishing as publishing,
    _tokens as tokens,
)
from ._selectors import SelectorSet
from ._server import DROP_CONNECTION
from ._subscriptions import Subscription
from ._tokens import InvalidToken
from ._updates import Update, check_event_id
from .exceptions import HistoryUnavailable, HubbubError, InvalidUpdate, LayerUnavailable, UpdateTooLarge

logger = logging.getLogger(__name__)

# ASGI's callables, as hubbub.asgi spells them.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ALLOWED_METHODS = "GET, POST, OPTIONS"


class Forbidden(HubbubError):
    status = 403


class Unauthorized(HubbubError):
    status = 401


class RequestTimeout(HubbubError):
    status = 408


class Request:
    """The parts of an ASGI HTTP scope the endpoint reads, parsed once."""

    __slots__ = ("scope", "headers", "query", "cookies")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers[name] = headers[name] + b"; " + value if name == b"cookie" and name in headers else value
        self.headers = headers
        try:
            self.query = parse_qs(
                scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True, errors="strict"
            )
        except UnicodeDecodeError:
            raise InvalidUpdate("the query string is not valid UTF-8") from None
        cookie = headers.get(b"cookie")
        self.cookies = parse_cookie(cookie.decode("latin-1")) if cookie else {}

    def cors_headers(self) -> list[tuple[bytes, bytes]]:
        origin = self.headers.get(b"origin")
        allowed = conf.get("HUBBUB_CORS_ALLOWED_ORIGINS")
        if origin is None or not allowed:
            return []
        if "*" not in allowed and origin.decode("latin-1") not in allowed:
            return []
        return [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin"),
        ]


async def respond(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = (text + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def error_headers(error: HubbubError) -> list[tuple[bytes, bytes]]:
    if isinstance(error, limits.TooManyConnections):
        return [(b"retry-after", str(error.retry_after).encode())]
    if isinstance(error, RequestTimeout):
        return [(b"connection", b"close")]  # the rest of the body may still be on its way
    if error.status != 401:
        return []
    if isinstance(error, InvalidToken):
        return [(b"www-authenticate", b'Bearer error="invalid_token"')]
    return [(b"www-authenticate", b"Bearer")]


class MercureEndpoint:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        publishing.mark_serving()
        method = scope["method"]
        request: Request | None = None
        try:
            request = Request(scope)
            if method == "GET":
                await self.subscribe(request, receive, send)
            elif method == "POST":
                update_id = await self.publish(request, receive)
                await respond(send, 200, update_id, request.cors_headers())
            elif method == "OPTIONS":
                await self.preflight(request, send)
            else:
                await respond(send, 405, f"method {method} is not allowed", [(b"allow", ALLOWED_METHODS.encode())])
        except HubbubError as error:
            cors = request.cors_headers() if request is not None else []
            await respond(send, error.status, str(error), error_headers(error) + cors)

    async def preflight(self, request: Request, send: Send) -> None:
        headers = request.cors_headers()
        if headers:
            headers += [
                (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
                (b"access-control-allow-headers", b"Authorization, Cache-Control, Content-Type, Last-Event-ID"),
                (b"access-control-max-age", b"600"),
            ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    # Publishing

    async def publish(self, request: Request, receive: Receive) -> str:
        token, _ = tokens.find(request.headers, request.query, request.cookies)
        if token is None:
            raise Unauthorized("publishing requires a JWT (Authorization: Bearer, or the mercureAuthorization cookie)")
        claims = tokens.decode(token, conf.get("HUBBUB_PUBLISHER_JWT_KEY"))
        if claims.publish is None:
            raise Forbidden("the token carries no mercure.publish claim")
        content_type = request.headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type != b"application/x-www-form-urlencoded":
            raise InvalidUpdate("publish requests must be application/x-www-form-urlencoded")
        body = await read_body(request, receive, self.max_body_bytes())
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            raise InvalidUpdate("the request body is not valid UTF-8") from None
        topics = form.get("topic", [])
        if not topics:
            raise InvalidUpdate('missing "topic" field')
        update = Update.create(
            topics,
            form.get("data", [""])[0],
            private="private" in form,
            type=form.get("type", [None])[0],
            id=form.get("id", [None])[0],
            retry=form.get("retry", [None])[0],
        )
        if not claims.publish.match_all(update.topics):
            raise Forbidden(
                "the token does not allow publishing to "
                + ", ".join(t for t in update.topics if not claims.publish.match(t))
            )
        await publishing.adeliver(update)
        return update.id

    @staticmethod
    def max_body_bytes() -> int:
        topics: int = conf.get("HUBBUB_MAX_TOPICS") * (conf.get("HUBBUB_MAX_TOPIC_LENGTH") * 3 + 8)
        data: int = conf.get("HUBBUB_MAX_DATA_BYTES")
        return data * 3 + topics + 16 * 1024

    # Subscribing

    async def subscribe(self, request: Request, receive: Receive, send: Send) -> None:
        selectors = request.query.get("topic", [])
        if not selectors:
            raise InvalidUpdate('missing "topic" parameter')
        if len(selectors) > conf.get("HUBBUB_MAX_SELECTORS"):
            raise UpdateTooLarge(f"more than {conf.get('HUBBUB_MAX_SELECTORS')} topic selectors")
        last_event_id = (
            request.headers.get(b"last-event-id", b"").decode("utf-8", "replace")
            or (request.query.get("lastEventID", [""])[0])
        )
        if last_event_id:
            check_event_id(last_event_id)
        token, source = tokens.find(request.headers, request.query, request.cookies)
        claims = tokens.decode(token, conf.get("HUBBUB_SUBSCRIBER_JWT_KEY")) if token else None
        grants = claims.subscribe if claims is not None and claims.subscribe is not None else SelectorSet()
        anonymous_allowed = conf.get("HUBBUB_ANONYMOUS_SUBSCRIBERS")
        user: str | None = None
        if settings.SESSION_COOKIE_NAME in request.cookies and (authorization.authorizers() or not anonymous_allowed):
            user, user_grants = await sync_to_async(_user_grants)(request.cookies, selectors)
            grants = grants | user_grants
        if claims is None and user is None and not anonymous_allowed:
            raise Unauthorized("subscribing requires a JWT or a signed-in session")
        templates = conf.get("HUBBUB_MAX_ANONYMOUS_TEMPLATES")
        if claims is None and user is None and sum("{" in selector for selector in selectors) > templates:
            # Each template is matched against every update: anyone may connect, so cap what it costs.
            raise InvalidUpdate(f"subscribers without a token or session may use at most {templates} URI templates")

        client = request.scope.get("client")
        lease = limits.connections.acquire(address=client[0] if client else None, user=user, token=token)
        try:
            subscription = Subscription(
                SelectorSet(selectors),
                grants,
                conf.get("HUBBUB_SUBSCRIBER_BUFFER"),
                limit_bytes=conf.get("HUBBUB_SUBSCRIBER_BUFFER_BYTES"),
                replaying=bool(last_event_id),
                user=user,
                write_timeout=conf.get("HUBBUB_WRITE_TIMEOUT_SECONDS"),
            )
            await self.run(request, receive, send, subscription, last_event_id, source, claims)
        finally:
            lease.release()

    async def run(
        self,
        request: Request,
        receive: Receive,
        send: Send,
        subscription: Subscription,
        last_event_id: str,
        token_source: str,
        claims: tokens.Claims | None,
    ) -> None:
        """Register the subscription, stream it until it is closed, and let go of it."""
        hub = fanout.current()
        try:
            await hub.add(subscription)
        except HubbubError:
            raise
        except Exception as error:
            logger.warning("hubbub: cannot subscribe, channel layer unreachable", exc_info=True)
            raise LayerUnavailable(f"the channel layer is unreachable: {error}") from error
        task = asyncio.current_task()
        subscription.task = task
        watcher = asyncio.ensure_future(_watch_disconnect(receive, subscription))
        closer = _close_later(claims.expires if claims is not None else None, subscription)
        try:
            await self.stream(request, send, subscription, last_event_id, token_source)
        except asyncio.CancelledError:
            # Abandoned (closed while the client was not reading): end here, and have the server
            # drop the connection with what it could not write. Any other cancellation (the
            # server shutting down) goes on.
            if not subscription.abandoned or task is None or task.uncancel() > 0:
                raise
            logger.info("hubbub: dropped a subscriber that stopped reading (%s)", subscription.reason)
            drop = (request.scope.get("extensions") or {}).get(DROP_CONNECTION)
            if drop is not None:
                drop["drop"]()
        finally:
            subscription.task = None
            watcher.cancel()
            if closer is not None:
                closer.cancel()
            await hub.remove(subscription)

    async def stream(
        self, request: Request, send: Send, subscription: Subscription, last_event_id: str, token_source: str
    ) -> None:
        try:
            current_id, after = await sync_to_async(_position)(last_event_id)
        except DatabaseError as error:
            raise HistoryUnavailable(f"the update history is unreachable: {error}") from error
        headers = [
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"private, no-store" if token_source == "query" else b"no-cache"),
            (b"x-accel-buffering", b"no"),
            (b"last-event-id", (current_id or history.EARLIEST).encode()),
            *request.cors_headers(),
        ]
        # Every write marks its start, so that a client that stops reading is noticed
        # (Subscription.heartbeat, Subscription.close); time.monotonic is all it costs.
        subscription.sending_since = time.monotonic()
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"retry: %d\n\n" % conf.get("HUBBUB_RETRY_MS"), "more_body": True}
        )
        subscription.sending_since = 0.0
        if last_event_id:
            after = await self.replay(send, subscription, after)
            subscription.finish_replay(after)
        while (chunk := await subscription.next()) is not None:
            subscription.sending_since = time.monotonic()
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            subscription.sending_since = 0.0
        subscription.sending_since = time.monotonic()
        await send({"type": "http.response.body", "body": b""})
        subscription.sending_since = 0.0

    async def replay(self, send: Send, subscription: Subscription, after: int) -> int:
        """Send the stored updates after ``after`` that this subscriber wants; returns the last seq read."""
        while not subscription.closed:
            batch = await sync_to_async(_history_batch)(after)
            if not batch:
                break
            after = batch[-1][0]
            chunk = b"".join(update.encode() for _, update in batch if subscription.wants(update))
            if chunk:
                subscription.sending_since = time.monotonic()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                subscription.sending_since = 0.0
        return after


def _user_grants(cookies: dict[str, str], selectors: list[str]) -> tuple[str | None, SelectorSet]:
    """The signed-in session user's pk (None if not signed in) and what the hooks grant them."""
    close_old_connections()
    user = authorization.user_from_cookies(cookies)
    if not getattr(user, "is_authenticated", False):
        return None, SelectorSet()
    return authorization.user_key(user), authorization.granted_to_user(user, selectors)


def _position(last_event_id: str) -> tuple[str | None, int]:
    """The newest public update's id (the ``Last-Event-ID`` response header must not show
    anyone a private update's id) and the sequence number to replay after (unknown ids
    replay all)."""
    close_old_connections()
    current = history.last_public_id()
    if not last_event_id:
        return current, 0
    return current, history.position(last_event_id) or 0


def _history_batch(after: int) -> list[tuple[int, Update]]:
    return history.batch_after(after)


async def read_body(request: Request, receive: Receive, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes (else 413), all of it within
    ``HUBBUB_BODY_TIMEOUT_SECONDS`` (else 408)."""
    declared = request.headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UpdateTooLarge(f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    seconds: float | None = conf.get("HUBBUB_BODY_TIMEOUT_SECONDS")
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise InvalidUpdate("the client went away before sending the whole body")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise UpdateTooLarge(f"the request body is larger than {limit} bytes")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise RequestTimeout(f"the request body did not arrive within {seconds:g} s") from None


async def _watch_disconnect(receive: Receive, subscription: Subscription) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            subscription.close("client disconnected")
            return


def _close_later(expires: float | None, subscription: Subscription) -> asyncio.TimerHandle | None:
    """The subscription's one timer: it closes the stream when the token expires or at the end
    of the stream's lifetime, drawn in [0.9, 1.0] of HUBBUB_MAX_CONNECTION_SECONDS so that the
    clients that connected together do not all come back together; whichever comes first."""
    delay: float | None = None
    reason = ""
    lifetime: float | None = conf.get("HUBBUB_MAX_CONNECTION_SECONDS")
    if lifetime is not None:
        delay, reason = lifetime * random.uniform(0.9, 1.0), "maximum connection lifetime reached"
    if expires is not None:
        left = max(0.0, expires - time.time())
        if delay is None or left < delay:
            delay, reason = left, "token expired"
    if delay is None:
        return None
    return asyncio.get_running_loop().call_later(delay, subscription.close, reason)
