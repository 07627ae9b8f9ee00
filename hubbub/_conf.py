"""Hub settings with their defaults: every ``HUBBUB_*`` setting is read here and nowhere else."""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

_DERIVED = object()
_LOCAL_SERVER = object()
_DEPLOYMENT = object()

DEFAULTS: dict[str, Any] = {
    # HS256 keys for publisher and subscriber JWTs. Unset: derived from SECRET_KEY (see
    # derived_key); None disables that kind of token.
    "HUBBUB_PUBLISHER_JWT_KEY": _DERIVED,
    "HUBBUB_SUBSCRIBER_JWT_KEY": _DERIVED,
    "HUBBUB_JWT_ALGORITHMS": ["HS256"],
    # Draft-07 compatibility: `topic=` subscriptions, the `mercure` claim, `lastEventID`, the
    # `mercureAuthorization` cookie and the `authorization` query parameter. False: the hub
    # speaks Mercure 1.0 only.
    "HUBBUB_MERCURE_DRAFT07": True,
    # Mercure 1.0 (RFC 9068 at+jwt) tokens: the hub's resource identifier, which `aud` must
    # contain (unset: the URL the request reached, e.g. https://example.com/.well-known/mercure),
    # and the issuer identifier that the HUBBUB_*_JWT_KEY keys belong to.
    "HUBBUB_TOKEN_AUDIENCE": None,
    "HUBBUB_TOKEN_ISSUER": "hubbub",
    # Other trusted issuers: {issuer: {"keys": [...], "jwks_url": "...", "algorithms": [...]}}.
    "HUBBUB_TOKEN_ISSUERS": {},
    # Which kinds of token may come without `exp`: "draft-07" (the mercure claim) and/or
    # "draft-08" (Mercure 1.0 access tokens, which RFC 9068 requires to carry it).
    "HUBBUB_TOKENS_WITHOUT_EXP": ["draft-07"],
    # Authorization details per Mercure 1.0 token (each holds at most HUBBUB_MAX_SELECTORS topics).
    "HUBBUB_MAX_AUTHORIZATION_DETAILS": 32,
    # Subscribers without a token or session may receive public updates.
    "HUBBUB_ANONYMOUS_SUBSCRIBERS": True,
    # Callables "(user, selectors) -> iterable of selectors" that grant a signed-in
    # Django user private updates; dotted paths.
    "HUBBUB_AUTHORIZERS": [],
    "HUBBUB_CHANNEL_LAYER": "default",
    # What the hub's channel-layer group names start with, so that deployments sharing one
    # Redis server never see each other's updates. Unset: derived from the Redis database
    # number and the history database (hubbub._layers.deployment_prefix).
    "HUBBUB_REDIS_PREFIX": _DEPLOYMENT,
    "HUBBUB_HEARTBEAT_SECONDS": 15.0,
    "HUBBUB_RETRY_MS": 3000,
    "HUBBUB_CORS_ALLOWED_ORIGINS": [],
    # Origins (scheme://host[:port]) besides the hub's own from which a publish authenticated
    # by a cookie is accepted, checked against Origin (else Referer); "*" allows any.
    "HUBBUB_PUBLISH_ORIGINS": [],
    # Limits; a request over any of them is answered 413.
    "HUBBUB_MAX_DATA_BYTES": 1024 * 1024,
    "HUBBUB_MAX_TOPICS": 32,
    "HUBBUB_MAX_TOPIC_LENGTH": 2048,
    "HUBBUB_MAX_ID_LENGTH": 512,
    "HUBBUB_MAX_SELECTORS": 64,
    # URI-template selectors per subscriber without a token or session (each is matched
    # against every update; templates shared by many subscribers are matched once).
    "HUBBUB_MAX_ANONYMOUS_TEMPLATES": 8,
    # Events (and bytes) buffered for one subscriber before it is disconnected as too slow.
    "HUBBUB_SUBSCRIBER_BUFFER": 2000,
    "HUBBUB_SUBSCRIBER_BUFFER_BYTES": 16 * 1024 * 1024,
    # History retention: the newest MAX_COUNT updates no older than MAX_AGE seconds.
    "HUBBUB_HISTORY_MAX_COUNT": 100_000,
    "HUBBUB_HISTORY_MAX_AGE": 7 * 24 * 3600,
    "HUBBUB_PRUNE_EVERY": 500,
    # Bounded clients (hubbub._limits, hubbub._server). Each limit is per worker process;
    # None turns it off. Streams open at once: in all, per client address (a NAT'd office
    # shares one), per signed-in user or per token (one browser holds a few); over a limit
    # a subscription is answered 429 with Retry-After.
    "HUBBUB_MAX_CONNECTIONS": 10_000,
    "HUBBUB_MAX_CONNECTIONS_PER_IP": 256,
    "HUBBUB_MAX_CONNECTIONS_PER_USER": 32,
    # Subscriptions one WebSocket may hold open at once (hubbub._websocket); the socket
    # itself counts as one stream towards the limits above.
    "HUBBUB_MAX_SUBSCRIPTIONS_PER_SOCKET": 64,
    # A stream is closed cleanly after this many seconds, each drawn in [0.9, 1.0] of it
    # (the client resumes by Last-Event-ID); spreads reconnections and rebalances workers.
    "HUBBUB_MAX_CONNECTION_SECONDS": 3600.0,
    # A subscriber whose socket has not taken a write for this long is disconnected
    # (checked at each heartbeat).
    "HUBBUB_WRITE_TIMEOUT_SECONDS": 30.0,
    # Request line and headers: at most this many bytes (else 431), complete within this
    # many seconds (else 408 and closed) — served by runserver and serve.
    "HUBBUB_MAX_HEADER_BYTES": 64 * 1024,
    "HUBBUB_HEADER_TIMEOUT_SECONDS": 10.0,
    # A publish request's body must arrive within this many seconds (else 408).
    "HUBBUB_BODY_TIMEOUT_SECONDS": 30.0,
    # Where a process that is not the server delivers updates when the channel layer
    # is in-memory (the embedded configuration). Unset: the hub of a server on this host,
    # on $PORT (8000 when unset, as runserver's); None stores them without delivery.
    "HUBBUB_RELAY_URL": _LOCAL_SERVER,
}


_cache: dict[str, Any] = {}
# The settings object the cache was filled from. Overriding settings in tests swaps it (and
# deleting one, as pytest-django's ``del settings.NAME`` does, sends no setting_changed).
_cached_from: object = None


def get(name: str) -> Any:
    """The setting, or its default; cached, as it is read on every publish and subscribe."""
    global _cached_from
    source = settings.__dict__.get("_wrapped")
    if source is not _cached_from:
        _cache.clear()
        _cached_from = source
    try:
        return _cache[name]
    except KeyError:
        value = getattr(settings, name, DEFAULTS[name])
        if value is _DERIVED:
            value = derived_key(name)
        elif value is _DEPLOYMENT:
            from ._layers import deployment_prefix

            value = deployment_prefix()
        elif value is _LOCAL_SERVER:
            value = f"http://127.0.0.1:{os.environ.get('PORT') or '8000'}/.well-known/mercure"
        _cache[name] = value
        return value


def is_set(name: str) -> bool:
    """Whether the project sets ``name`` itself (rather than relying on the default)."""
    return hasattr(settings, name)


def derived_key(name: str) -> str:
    """A key for ``name`` derived from ``SECRET_KEY``: stable across processes and restarts
    of one deployment, different for publishers and subscribers, and unguessable without
    the secret key."""
    purpose = {"HUBBUB_PUBLISHER_JWT_KEY": "hubbub.publisher", "HUBBUB_SUBSCRIBER_JWT_KEY": "hubbub.subscriber"}[name]
    return hmac.new(str(settings.SECRET_KEY).encode(), purpose.encode(), hashlib.sha256).hexdigest()


def _forget(*, setting: str, **kwargs: Any) -> None:
    """Drop what a changed setting invalidates (override_settings, pytest-django's settings)."""
    if setting in ("SECRET_KEY", "CHANNEL_LAYERS", "DATABASES", "DATABASE_ROUTERS", "HUBBUB_CHANNEL_LAYER"):
        _cache.clear()
    _cache.pop(setting, None)


setting_changed.connect(_forget)
