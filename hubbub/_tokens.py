"""Mercure JWTs: reading the ``mercure.publish`` / ``mercure.subscribe`` claims, and minting tokens."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import jwt

from . import _conf as conf
from ._selectors import SelectorSet
from .exceptions import HubbubError

COOKIE_NAME = "mercureAuthorization"
QUERY_PARAMETERS = ("authorization", "access_token")


class InvalidToken(HubbubError):
    """A token was presented but is not valid for this hub (HTTP 401)."""

    status = 401


@dataclass(frozen=True, slots=True)
class Claims:
    """What a token grants; None where the token does not carry the claim at all."""

    publish: SelectorSet | None
    subscribe: SelectorSet | None
    expires: float | None = None


def _selector_list(value: object, name: str) -> SelectorSet | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidToken(f"claim mercure.{name} must be a list of strings")
    if len(value) > conf.get("HUBBUB_MAX_SELECTORS"):
        raise InvalidToken(f"claim mercure.{name} has more than {conf.get('HUBBUB_MAX_SELECTORS')} selectors")
    return SelectorSet(value)


def decode(token: str, key: str | None) -> Claims:
    """The token's claims; a token seen recently is not verified again, only its expiry."""
    if not key:
        raise InvalidToken("this hub accepts no such token (no key configured)")
    claims = _verified(token, key, tuple(conf.get("HUBBUB_JWT_ALGORITHMS")))
    if claims.expires is not None and claims.expires <= time.time():
        raise InvalidToken("token has expired")
    return claims


@lru_cache(maxsize=1024)
def _verified(token: str, key: str, algorithms: tuple[str, ...]) -> Claims:
    try:
        payload = jwt.decode(token, key, algorithms=list(algorithms), options={"verify_aud": False})
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token has expired") from None
    except jwt.InvalidTokenError as error:
        raise InvalidToken(f"invalid token: {error}") from None
    for claim in ("exp", "nbf", "iat"):
        value = payload.get(claim)
        # RFC 7519 NumericDate is a JSON number; PyJWT also takes a numeric string, which the
        # expiry timer and this cache would then never honour.
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InvalidToken(f"invalid token: claim {claim} must be a number")
    expires = float(payload["exp"]) if "exp" in payload else None
    mercure = payload.get("mercure")
    if mercure is None:
        return Claims(publish=None, subscribe=None, expires=expires)
    if not isinstance(mercure, dict):
        raise InvalidToken("claim mercure must be an object")
    return Claims(
        publish=_selector_list(mercure.get("publish"), "publish"),
        subscribe=_selector_list(mercure.get("subscribe"), "subscribe"),
        expires=expires,
    )


def mint(
    key: str,
    *,
    publish: str | Iterable[str] | None = None,
    subscribe: str | Iterable[str] | None = None,
    expires_in: float | None = None,
) -> str:
    """An HS256 token carrying the given selectors (for relaying, tests and clients of the hub)."""
    mercure: dict[str, list[str]] = {}
    if publish is not None:
        mercure["publish"] = [publish] if isinstance(publish, str) else list(publish)
    if subscribe is not None:
        mercure["subscribe"] = [subscribe] if isinstance(subscribe, str) else list(subscribe)
    payload: dict[str, object] = {"mercure": mercure}
    if expires_in is not None:
        payload["exp"] = int(time.time() + expires_in)
    return jwt.encode(payload, key, algorithm="HS256")


def mint_token(
    *,
    publish: str | Iterable[str] | None = None,
    subscribe: str | Iterable[str] | None = None,
    expires_in: float | None = None,
    key: str | None = None,
) -> str:
    """A token for this hub: signed with ``key``, by default the configured publisher key
    when ``publish`` is given, else the subscriber key."""
    if key is None:
        if (
            publish is not None
            and subscribe is not None
            and conf.get("HUBBUB_PUBLISHER_JWT_KEY") != conf.get("HUBBUB_SUBSCRIBER_JWT_KEY")
        ):
            raise ValueError("publisher and subscriber keys differ: mint one token for each, or pass key=")
        key = conf.get("HUBBUB_PUBLISHER_JWT_KEY" if publish is not None else "HUBBUB_SUBSCRIBER_JWT_KEY")
        if not key:
            raise ValueError("this hub accepts no such token (its key is set to None)")
    return mint(key, publish=publish, subscribe=subscribe, expires_in=expires_in)


def verify_token(token: str, *, publish: bool) -> SelectorSet | None:
    """The selectors a token presented to this project grants, checked as the hub checks them.

    With ``publish=True`` the token must be signed with the publisher key and the answer is
    its ``mercure.publish`` claim; with ``publish=False``, the subscriber key and its
    ``mercure.subscribe`` claim. None when the token carries no such claim. Raises
    ``InvalidToken`` (a ``HubbubError``, one-line reason) when it is malformed, expired or
    not signed with that key, or when that kind of token is disabled (its key set to None).
    """
    claims = decode(token, conf.get("HUBBUB_PUBLISHER_JWT_KEY" if publish else "HUBBUB_SUBSCRIBER_JWT_KEY"))
    return claims.publish if publish else claims.subscribe


def find(headers: dict[bytes, bytes], query: dict[str, list[str]], cookies: dict[str, str]) -> tuple[str | None, str]:
    """The presented token and where it came from: header first, then query, then cookie."""
    authorization = headers.get(b"authorization")
    if authorization is not None:
        scheme, _, value = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise InvalidToken("the Authorization header must be 'Bearer <token>'")
        return value.strip(), "header"
    for name in QUERY_PARAMETERS:
        if query.get(name):
            return query[name][0], "query"
    if cookies.get(COOKIE_NAME):
        return cookies[COOKIE_NAME], "cookie"
    return None, ""
