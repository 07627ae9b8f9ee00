"""The Mercure endpoint, ``/.well-known/mercure``, as a plain ASGI application.

GET (or QUERY, with the parameters in a form body) subscribes (a server-sent events
stream), POST publishes, OPTIONS answers CORS preflights. It bypasses Django's
request/response cycle on purpose: a subscription is a long-lived stream on the fan-out's
hot path, so it writes straight to the ASGI ``send``.

Two drafts of the protocol are served at once, and each request tells which it speaks:
draft-07 subscribes with ``topic=`` (selectors with URI templates) and resumes with
``lastEventID``; Mercure 1.0 subscribes with ``match=`` / ``match_urlpattern=`` and resumes
with ``last_event_id``. Tokens tell the same way (see ``hubbub._tokens``).
``HUBBUB_MERCURE_DRAFT07 = False`` refuses the draft-07 forms.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

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
from ._selectors import NOTHING, InvalidPattern, SelectorSet
from ._server import DIRECT_WRITE, DROP_CONNECTION
from ._subscriptions import Subscription
from ._sync import run_sync
from ._tokens import InvalidRequest, InvalidToken
from ._updates import MERCURE_PATH, Update, check_event_id, check_text
from .asgi import METADATA_PATH, Receive, Scope, Send
from .exceptions import HistoryUnavailable, HubbubError, InvalidUpdate, UpdateTooLarge

logger = logging.getLogger(__name__)


ALLOWED_METHODS = "GET, QUERY, POST, OPTIONS"
# The response headers a cross-origin page may read (the protocol's cursors).
EXPOSED_HEADERS = b"Last-Event-ID, Mercure-Last-Event-ID"
FORM = b"application/x-www-form-urlencoded"


class Forbidden(HubbubError):
    """A valid token (or none) that does not allow the request: RFC 6750 insufficient_scope."""

    status = 403


class CrossSiteRequest(HubbubError):
    """A cookie-authenticated publish from an origin not allowed to publish (CSRF)."""

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

    @property
    def origin(self) -> str:
        """This request's own origin, as a browser writes it in ``Origin``."""
        host = self.headers.get(b"host", b"").decode("latin-1")
        scheme = self.scope.get("scheme", "http")
        if not host:
            server = self.scope.get("server")
            default_port = {"http": 80, "https": 443}.get(scheme)
            host = "localhost" if not server else server[0] if server[1] == default_port else f"{server[0]}:{server[1]}"
        return f"{scheme}://{host}"

    @property
    def hub_path(self) -> str:
        return (self.scope.get("root_path") or "") + MERCURE_PATH

    def cors_headers(self) -> list[tuple[bytes, bytes]]:
        """Listed origins may read responses with credentials; ``*`` lets any origin read
        them without (an origin is never echoed with credentials unless it is listed)."""
        origin = self.headers.get(b"origin")
        allowed = conf.get("HUBBUB_CORS_ALLOWED_ORIGINS")
        if origin is None or not allowed:
            return []
        if origin.decode("latin-1") in allowed:
            return [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-credentials", b"true"),
                (b"access-control-expose-headers", EXPOSED_HEADERS),
                (b"vary", b"Origin"),
            ]
        if "*" in allowed:
            return [(b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", EXPOSED_HEADERS)]
        return []


def hub_url(request: Request) -> str:
    """The hub's URL as this request reached it: the default resource identifier (token
    audience) and the base of relative URL Patterns."""
    return request.origin + request.hub_path


async def respond(
    send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None, *, newline: bool = True
) -> None:
    """A plain-text response: a one-line reason (``newline``), or a publish's id, exactly."""
    body = (text + "\n" if newline else text).encode()
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


def error_headers(error: HubbubError, request: Request | None) -> list[tuple[bytes, bytes]]:
    """RFC 6750 challenges for the token's failures, pointing at the hub's protected
    resource metadata (RFC 9728); Retry-After for a connection limit."""
    if isinstance(error, limits.TooManyConnections):
        return [(b"retry-after", str(error.retry_after).encode())]
    if isinstance(error, RequestTimeout):
        return [(b"connection", b"close")]  # the rest of the body may still be on its way
    if isinstance(error, InvalidToken):
        challenge = 'Bearer error="invalid_token"'
    elif isinstance(error, InvalidRequest):
        challenge = 'Bearer error="invalid_request"'
    elif isinstance(error, Forbidden):
        challenge = 'Bearer error="insufficient_scope"'
    elif isinstance(error, Unauthorized):
        challenge = "Bearer"
    else:
        return []
    if request is not None:
        metadata = request.origin + (request.scope.get("root_path") or "") + METADATA_PATH
        challenge += f'{"," if "=" in challenge else ""} resource_metadata="{metadata}"'
    return [(b"www-authenticate", challenge.encode("latin-1", "replace"))]


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """What a subscription asks for: its selectors (or matchers), where to resume from, and
    the draft of the protocol it speaks (7 or 8, Mercure 1.0)."""

    draft: int
    selectors: SelectorSet
    last_event_id: str


def _subscription_request(params: dict[str, list[str]], request: Request) -> SubscriptionRequest:
    """Read a subscription's parameters, refusing (400) what neither draft allows."""
    exact: list[str] = []
    patterns: list[str] = []
    for name, values in params.items():
        if name.lower().startswith("match"):
            if name in ("match", "match_exact"):
                exact += values
            elif name == "match_urlpattern":
                patterns += values
            else:
                raise InvalidUpdate(f"unknown matcher parameter {name!r}: use match, match_exact or match_urlpattern")
    topics = params.get("topic", [])
    header = request.headers.get(b"last-event-id")
    try:
        last_event_id = header.decode("utf-8") if header is not None else ""
    except UnicodeDecodeError:
        raise InvalidUpdate("the Last-Event-ID header is not valid UTF-8") from None
    most = conf.get("HUBBUB_MAX_SELECTORS")
    if exact or patterns:
        if topics:
            raise InvalidUpdate("a subscription uses either topic= (draft-07) or match= (Mercure 1.0), not both")
        if len(exact) + len(patterns) > most:
            raise InvalidUpdate(f"more than {most} topic matchers")
        longest = conf.get("HUBBUB_MAX_TOPIC_LENGTH")
        for matcher in exact + patterns:
            if not matcher:
                raise InvalidUpdate("a topic matcher must not be empty")
            if len(matcher) > longest:
                raise InvalidUpdate(f"a topic matcher is longer than {longest} characters")
            check_text(matcher, "a topic matcher")
        try:
            selectors = SelectorSet(exact=exact, url_patterns=patterns, base=hub_url(request))
        except InvalidPattern as error:
            raise InvalidUpdate(str(error)) from None
        last_event_id = last_event_id or params.get("last_event_id", [""])[0]
        draft = 8
    else:
        if not topics:
            raise InvalidUpdate('missing "match" parameter (or draft-07\'s "topic")')
        if not conf.get("HUBBUB_MERCURE_DRAFT07"):
            raise InvalidUpdate("draft-07 subscriptions (topic=) are turned off on this hub: use match=")
        if len(topics) > most:
            raise UpdateTooLarge(f"more than {most} topic selectors")
        for topic in topics:
            check_text(topic, "a topic selector")
        selectors = SelectorSet(topics)
        last_event_id = last_event_id or params.get("lastEventID", [""])[0]
        draft = 7
    if last_event_id:
        check_event_id(last_event_id)
    return SubscriptionRequest(draft, selectors, last_event_id)


class MercureEndpoint:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        publishing.mark_serving()
        method = scope["method"]
        request: Request | None = None
        try:
            request = Request(scope)
            if method == "GET" or method == "QUERY":
                await self.subscribe(request, receive, send)
            elif method == "POST":
                update_id = await self.publish(request, receive)
                await respond(send, 200, update_id, request.cors_headers(), newline=False)
            elif method == "OPTIONS":
                await self.preflight(request, send)
            else:
                await respond(send, 405, f"method {method} is not allowed", [(b"allow", ALLOWED_METHODS.encode())])
        except HubbubError as error:
            cors = request.cors_headers() if request is not None else []
            await respond(send, error.status, str(error), error_headers(error, request) + cors)

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
        token, source = tokens.find(request.headers, request.query, request.cookies)
        if token is None:
            raise Unauthorized("publishing requires a token (Authorization: Bearer, or the hub's cookie)")
        claims = await tokens.adecode(token, "publish", hub_url=hub_url(request))
        if claims.publish is None:
            raise Forbidden("the token grants no publishing")
        if source == "cookie":
            _check_publish_origin(request)
        content_type = request.headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type != FORM:
            raise InvalidUpdate("publish requests must be application/x-www-form-urlencoded")
        form = _parse_form(await read_body(request, receive, self.max_body_bytes()))
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
            hub_path=request.hub_path,
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
        """Authorize the subscription, register it, stream it until it is closed, and let go of it.

        One coroutine for the whole stream: an idle stream waits in as few frames as it can,
        each held by every open subscriber, and what authorizing it took is let go first.
        """
        asked, token, source, claims, grants, user = await self.authorize(request, receive)
        client = request.scope.get("client")
        lease = limits.connections.acquire(address=client[0] if client else None, user=user, token=token)
        try:
            subscription = Subscription(
                asked.selectors,
                grants,
                conf.get("HUBBUB_SUBSCRIBER_BUFFER"),
                limit_bytes=conf.get("HUBBUB_SUBSCRIBER_BUFFER_BYTES"),
                replaying=bool(asked.last_event_id),
                user=user,
                write_timeout=conf.get("HUBBUB_WRITE_TIMEOUT_SECONDS"),
            )
            hub = fanout.current()
            await hub.add(subscription)  # LayerUnavailable or HistoryUnavailable (503) when it cannot
            task = asyncio.current_task()
            subscription.task = task
            direct = (request.scope.get("extensions") or {}).get(DIRECT_WRITE)
            watching = direct is not None and direct["on_lost"](subscription.disconnected)
            watcher = None if watching else asyncio.ensure_future(_watch_disconnect(receive, subscription))
            closer = _close_later(claims.expires if claims is not None else None, subscription)
            try:
                await self.start(request, send, subscription, asked, source)
                while (chunk := subscription.take()) is not None:
                    if not chunk:
                        await subscription.changed()
                        continue
                    subscription.sending_since = time.monotonic()
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    subscription.sending_since = 0.0
                subscription.sending_since = time.monotonic()
                await send({"type": "http.response.body", "body": b""})
                subscription.sending_since = 0.0
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
                if watcher is not None:
                    watcher.cancel()
                elif direct is not None:
                    direct["on_lost"](None)
                if closer is not None:
                    closer.cancel()
                await hub.remove(subscription)
        finally:
            lease.release()

    async def authorize(
        self, request: Request, receive: Receive
    ) -> tuple[SubscriptionRequest, str | None, str, tokens.Claims | None, SelectorSet, str | None]:
        """What the request asks for, its token and where it came from, the token's claims, what
        the subscriber may read (grants) and the session user's key, if any; raises what refuses it."""
        params = request.query
        if request.scope["method"] == "QUERY":
            # Mercure 1.0: matchers too many for a URL go in a form body, joined to the query's.
            content_type = request.headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if content_type != FORM:
                raise InvalidUpdate("QUERY subscriptions carry an application/x-www-form-urlencoded body")
            body = _parse_form(await read_body(request, receive, self.max_body_bytes()))
            params = {name: params.get(name, []) + body.get(name, []) for name in {*params, *body}}
        asked = _subscription_request(params, request)
        selectors = asked.selectors
        token, source = tokens.find(request.headers, request.query, request.cookies)
        claims = await tokens.adecode(token, "subscribe", hub_url=hub_url(request)) if token else None
        grants = claims.subscribe if claims is not None and claims.subscribe is not None else NOTHING
        anonymous_allowed = conf.get("HUBBUB_ANONYMOUS_SUBSCRIBERS")
        user: str | None = None
        if settings.SESSION_COOKIE_NAME in request.cookies and (authorization.authorizers() or not anonymous_allowed):
            user, user_grants = await run_sync(_user_grants, request.cookies, selectors.matchers)
            grants = grants | user_grants
        if claims is None and user is None and not anonymous_allowed:
            raise Unauthorized("subscribing requires a token or a signed-in session")
        templates = conf.get("HUBBUB_MAX_ANONYMOUS_TEMPLATES")
        if claims is None and user is None and len(selectors.patterns) > templates:
            # Each pattern is matched against every update: anyone may connect, so cap what it costs.
            raise InvalidUpdate(
                f"subscribers without a token or session may use at most {templates} URI templates or URL Patterns"
            )
        return asked, token, source, claims, grants, user

    async def start(
        self, request: Request, send: Send, subscription: Subscription, asked: SubscriptionRequest, token_source: str
    ) -> None:
        """Start the response, replay what the subscriber asked to resume from, and hand the
        subscription its connection if the server offers it (``hubbub.direct_write``)."""
        last_event_id = asked.last_event_id
        try:
            cursor, after = await run_sync(history.read_fresh, history.resume_point, last_event_id)
        except DatabaseError as error:
            raise HistoryUnavailable(f"the update history is unreachable: {error}") from error
        headers = [
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"private, no-store" if token_source == "query" else b"no-cache"),
            (b"x-accel-buffering", b"no"),
            *request.cors_headers(),
        ]
        if asked.draft == 7:
            headers.append((b"last-event-id", cursor.encode()))
        elif last_event_id:
            headers.append((b"mercure-last-event-id", cursor.encode()))
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
        direct = (request.scope.get("extensions") or {}).get(DIRECT_WRITE)
        writer = direct["open"]() if direct is not None else None
        if writer is not None:
            subscription.attach(writer)  # from now on the fan-out writes events itself

    async def replay(self, send: Send, subscription: Subscription, after: int) -> int:
        """Send the stored updates after ``after`` that this subscriber wants; returns the last seq read."""
        while not subscription.closed:
            batch = await run_sync(history.read_fresh, history.batch_after, after)
            if not batch:
                break
            after = batch[-1][0]
            chunk = b"".join(update.encode() for _, update in batch if subscription.wants(update))
            if chunk:
                subscription.sending_since = time.monotonic()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                subscription.sending_since = 0.0
        return after


def _parse_form(body: bytes) -> dict[str, list[str]]:
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise InvalidUpdate("the request body is not valid UTF-8") from None


def _check_publish_origin(request: Request) -> None:
    """A browser sends the hub's cookie with any site's form post: such a publish is
    accepted only from the hub's own origin and ``HUBBUB_PUBLISH_ORIGINS`` (CSRF)."""
    origin = request.headers.get(b"origin", b"").decode("latin-1")
    if not origin or origin == "null":
        referer = request.headers.get(b"referer", b"").decode("latin-1")
        scheme, _, rest = referer.partition("://")
        origin = f"{scheme}://{rest.split('/', 1)[0]}" if rest else ""
    if not origin:
        raise CrossSiteRequest("a publish authenticated by a cookie needs an Origin or Referer header")
    allowed = conf.get("HUBBUB_PUBLISH_ORIGINS")
    if origin != request.origin and origin not in allowed and "*" not in allowed:
        raise CrossSiteRequest(f"origin {origin} may not publish with the hub's cookie (HUBBUB_PUBLISH_ORIGINS)")


def _user_grants(cookies: dict[str, str], selectors: list[str]) -> tuple[str | None, SelectorSet]:
    """The signed-in session user's pk (None if not signed in) and what the hooks grant them."""
    close_old_connections()
    user = authorization.user_from_cookies(cookies)
    if not getattr(user, "is_authenticated", False):
        return None, NOTHING
    return authorization.user_key(user), authorization.granted_to_user(user, selectors)


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
    """End the stream at the end of its lifetime, drawn in [0.9, 1.0] of
    HUBBUB_MAX_CONNECTION_SECONDS so that the clients that connected together do not all come
    back together, or when its token expires, whichever comes first.

    The lifetime is the subscription's ``deadline``, checked at each heartbeat (a timer would
    cost every open stream about 0.7 KB); a token's expiry, which the protocol says must end
    the stream no later than ``exp``, gets the stream's one timer.
    """
    lifetime: float | None = conf.get("HUBBUB_MAX_CONNECTION_SECONDS")
    delay = lifetime * random.uniform(0.9, 1.0) if lifetime is not None else None
    if delay is not None:
        subscription.deadline = time.monotonic() + delay
    if expires is None:
        return None
    left = max(0.0, expires - time.time())
    if delay is not None and delay + conf.get("HUBBUB_HEARTBEAT_SECONDS") <= left:
        return None  # the lifetime ends it first, even checked a heartbeat late
    return asyncio.get_running_loop().call_later(left, subscription.close, "token expired")
