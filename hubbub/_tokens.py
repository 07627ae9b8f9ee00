"""Access tokens: finding one in a request, verifying it, reading what it grants, minting one.

Two kinds of token are accepted, told apart by the JWT header's ``typ``:

- a Mercure 1.0 access token (RFC 9068, ``typ: at+jwt``): ``iss`` names one of the trusted
  issuers, whose keys alone verify it; ``aud`` contains the hub's resource identifier; ``exp``
  is required; what it grants is in ``authorization_details`` (RFC 9396);
- a draft-07 token (any other ``typ``): signed with the role's key, what it grants in the
  ``mercure`` claim. Refused when ``HUBBUB_MERCURE_DRAFT07`` is False.

Verified tokens are remembered (keyed on everything that changes the answer), so a token
presented on every reconnection is verified once; its expiry is checked on every use.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, TypeAlias

import httpx
import jwt
from jwt.algorithms import get_default_algorithms

from . import _conf as conf
from ._selectors import InvalidPattern, SelectorSet
from .exceptions import HubbubError

COOKIE_NAME = "mercureAuthorization"
COOKIE_NAME_1_0 = "__Secure-mercure_access_token"
QUERY_PARAMETERS = ("authorization", "access_token")
DETAIL_TYPE = "https://mercure.rocks/authorization-detail"
ACTIONS = ("publish", "subscribe")
MATCH_TYPES = ("exact", "urlpattern")
#: Algorithms an issuer of HUBBUB_TOKEN_ISSUERS accepts when its entry names none.
DEFAULT_ISSUER_ALGORITHMS = ("EdDSA", "ES256", "RS256", "HS256")
#: Every algorithm an issuer may list; ``none`` is never one.
KNOWN_ALGORITHMS = frozenset(
    {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
    | {"EdDSA"}
)
#: Those that need ``cryptography`` (``pip install hubbub[crypto]``).
ASYMMETRIC_ALGORITHMS = KNOWN_ALGORITHMS - {"HS256", "HS384", "HS512"}
#: A JWK Set is fetched again after this many seconds, and at most once per
#: ``JWKS_MIN_REFETCH_SECONDS`` when a token names a key it does not hold (rotation).
JWKS_MAX_AGE_SECONDS = 300.0
JWKS_MIN_REFETCH_SECONDS = 30.0
JWKS_TIMEOUT_SECONDS = 5.0
DRAFT_07_WITHOUT_EXP = "draft-07"
DRAFT_08_WITHOUT_EXP = "draft-08"

Role = Literal["publish", "subscribe"]
Payloads: TypeAlias = tuple[tuple[SelectorSet, dict[str, object] | None], ...]
#: A trusted key: its ``kid`` (None when it has none) and the key itself: a secret or PEM
#: string, or a JWK as canonical JSON (from a JWK Set).
_Key = tuple[str | None, str]
_ROLE_KEYS = {"publish": "HUBBUB_PUBLISHER_JWT_KEY", "subscribe": "HUBBUB_SUBSCRIBER_JWT_KEY"}


class InvalidToken(HubbubError):
    """A token was presented but is not valid for this hub (HTTP 401, ``invalid_token``)."""

    status = 401


class InvalidRequest(HubbubError):
    """The token is presented in a malformed way (HTTP 400, ``invalid_request``)."""

    status = 400


class KeySetUnavailable(HubbubError):
    """A trusted issuer's JWK Set could not be fetched, so its tokens cannot be checked (HTTP 503)."""

    status = 503


@dataclass(frozen=True, slots=True)
class Claims:
    """What a token grants; ``publish`` / ``subscribe`` are None where it grants no such action.

    ``draft`` is 7 for a token with the ``mercure`` claim, 8 for a Mercure 1.0 access token.
    ``payloads`` are the Mercure 1.0 ``subscribe`` details in token order, each with its
    topics and its ``payload`` (None without one): a subscription's payload is that of the
    first whose topics match it.
    """

    publish: SelectorSet | None
    subscribe: SelectorSet | None
    expires: float | None = None
    draft: int = 7
    payloads: Payloads = ()


# Finding the token


def find(
    headers: Mapping[bytes, bytes], query: Mapping[str, list[str]], cookies: Mapping[str, str]
) -> tuple[str | None, str]:
    """The presented token and where it came from ("header", "cookie", "query", or "" for none).

    The ``Authorization`` header wins, and cookies are then ignored; else the
    ``__Secure-mercure_access_token`` cookie; else, with draft-07 compatibility on, the
    ``authorization`` / ``access_token`` query parameters and the ``mercureAuthorization``
    cookie. Raises ``InvalidRequest`` for a header that is not ``Bearer <token>``, and for a
    token in the query string when draft-07 compatibility is off.
    """
    authorization = headers.get(b"authorization")
    if authorization is not None:
        scheme, space, value = authorization.decode("latin-1").partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not space or not value or " " in value:
            raise InvalidRequest("the Authorization header must be 'Bearer <token>'")
        return value, "header"
    if cookies.get(COOKIE_NAME_1_0):
        return cookies[COOKIE_NAME_1_0], "cookie"
    in_query = next((query[name][0] for name in QUERY_PARAMETERS if query.get(name)), None)
    if not conf.get("HUBBUB_MERCURE_DRAFT07"):
        if in_query is not None:
            raise InvalidRequest(
                "tokens are not accepted in the query string: "
                f"use the Authorization header or the {COOKIE_NAME_1_0} cookie"
            )
        return None, ""
    if in_query is not None:
        return in_query, "query"
    if cookies.get(COOKIE_NAME):
        return cookies[COOKIE_NAME], "cookie"
    return None, ""


# Verifying


@dataclass(frozen=True, slots=True)
class _Issuer:
    name: str
    keys: tuple[_Key, ...]
    jwks_url: str | None
    algorithms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Plan:
    """What verifying one token takes, once its header and issuer are known."""

    token: str
    role: Role
    hub_url: str
    draft: int
    issuer: _Issuer
    kid: str | None


def decode(token: str, role: Role, *, hub_url: str) -> Claims:
    """What ``token`` grants, presented for ``role`` at ``hub_url`` (the URL the request reached:
    the base of relative URL patterns, and the audience when ``HUBBUB_TOKEN_AUDIENCE`` is
    unset). Raises ``InvalidToken``, or ``KeySetUnavailable`` when the issuer's JWK Set cannot
    be fetched (fetched here, blocking: call ``adecode`` from async code)."""
    plan = _plan(token, role, hub_url)
    keys = plan.issuer.keys
    if plan.issuer.jwks_url is not None:
        jwks = _cached_jwks(plan.issuer.jwks_url, plan.kid)
        keys += jwks if jwks is not None else _fetch_jwks(plan.issuer.jwks_url, plan.kid)
    return _verify(plan, keys)


async def adecode(token: str, role: Role, *, hub_url: str) -> Claims:
    """``decode`` for async code: a JWK Set is fetched in a worker thread."""
    plan = _plan(token, role, hub_url)
    keys = plan.issuer.keys
    if plan.issuer.jwks_url is not None:
        jwks = _cached_jwks(plan.issuer.jwks_url, plan.kid)
        if jwks is None:
            jwks = await asyncio.to_thread(_fetch_jwks, plan.issuer.jwks_url, plan.kid)
        keys += jwks
    return _verify(plan, keys)


def _plan(token: str, role: Role, hub_url: str) -> _Plan:
    mercure_1_0, kid, name = _header(token)
    if not mercure_1_0:
        if not conf.get("HUBBUB_MERCURE_DRAFT07"):
            raise InvalidToken("draft-07 tokens are turned off: the token's typ must be at+jwt")
        issuer = _Issuer("", _role_keys(role), None, tuple(conf.get("HUBBUB_JWT_ALGORITHMS")))
        return _Plan(token, role, hub_url, 7, issuer, kid)
    if not name:
        raise InvalidToken("invalid token: the iss claim is missing")
    return _Plan(token, role, hub_url, 8, _trusted_issuer(name, role), kid)


@lru_cache(maxsize=1024)
def _header(token: str) -> tuple[bool, str | None, str | None]:
    """Read before the token is verified: whether it is a Mercure 1.0 access token (its
    ``typ``), the ``kid`` it names, and (for a 1.0 token) the issuer whose keys verify it."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as error:
        raise InvalidToken(f"invalid token: {error}") from None
    kid = header.get("kid")
    kid = kid if isinstance(kid, str) else None
    typ = header.get("typ")
    if not (isinstance(typ, str) and typ.lower().removeprefix("application/") == "at+jwt"):
        return False, kid, None
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as error:
        raise InvalidToken(f"invalid token: {error}") from None
    name = unverified.get("iss")
    return True, kid, name if isinstance(name, str) and name else None


def _role_keys(role: Role) -> tuple[_Key, ...]:
    key = conf.get(_ROLE_KEYS[role])
    if not key:
        raise InvalidToken("this hub accepts no such token (no key configured)")
    return ((None, str(key)),)


def _trusted_issuer(name: str, role: Role) -> _Issuer:
    issuers = conf.get("HUBBUB_TOKEN_ISSUERS")
    entry = issuers.get(name) if isinstance(issuers, Mapping) else None
    if entry is not None:
        if issuer_problems(name, entry):
            raise InvalidToken(f"the hub's configuration of the issuer {name!r} is invalid (see manage.py check)")
        keys: list[_Key] = []
        for key in entry.get("keys", ()):
            keys.append((key.get("kid"), key["key"]) if isinstance(key, Mapping) else (None, key))
        algorithms = tuple(entry.get("algorithms", DEFAULT_ISSUER_ALGORITHMS))
        return _Issuer(name, tuple(keys), entry.get("jwks_url"), algorithms)
    if name == conf.get("HUBBUB_TOKEN_ISSUER"):
        return _Issuer(name, _role_keys(role), None, tuple(conf.get("HUBBUB_JWT_ALGORITHMS")))
    raise InvalidToken(f"invalid token: the issuer {name!r} is not trusted")


def issuer_problems(name: object, entry: object) -> list[str]:
    """What is wrong with one entry of ``HUBBUB_TOKEN_ISSUERS`` (nothing: an empty list)."""
    if not isinstance(name, str) or not name:
        return [f"the issuer {name!r} is not a non-empty string"]
    if not isinstance(entry, Mapping):
        return [f"the issuer {name!r} is {type(entry).__name__!r}, not a dict"]
    problems = [f"the issuer {name!r} has an unknown entry {key!r}" for key in entry if key not in _ISSUER_ENTRIES]
    keys = entry.get("keys", [])
    jwks_url = entry.get("jwks_url")
    if not isinstance(keys, list) or not all(_is_key_entry(key) for key in keys):
        problems.append(f"the keys of issuer {name!r} must be a list of strings or of {{'kid': ..., 'key': ...}} dicts")
    if jwks_url is not None and not (isinstance(jwks_url, str) and jwks_url.startswith(("https://", "http://"))):
        problems.append(f"the jwks_url of issuer {name!r} must be an http(s) URL")
    if not keys and jwks_url is None:
        problems.append(f"the issuer {name!r} has neither keys nor a jwks_url")
    algorithms = entry.get("algorithms", list(DEFAULT_ISSUER_ALGORITHMS))
    if not isinstance(algorithms, list) or not algorithms or not all(isinstance(a, str) for a in algorithms):
        problems.append(f"the algorithms of issuer {name!r} must be a non-empty list of names")
    else:
        unknown = [a for a in algorithms if a not in KNOWN_ALGORITHMS]
        if unknown:
            problems.append(
                f"the issuer {name!r} lists unknown algorithms {unknown} (known: {', '.join(sorted(KNOWN_ALGORITHMS))})"
            )
    return problems


_ISSUER_ENTRIES = ("keys", "jwks_url", "algorithms")


def _is_key_entry(key: object) -> bool:
    if isinstance(key, str):
        return bool(key)
    return (
        isinstance(key, Mapping)
        and set(key) <= {"kid", "key"}
        and isinstance(key.get("key"), str)
        and bool(key["key"])
        and isinstance(key.get("kid", ""), str)
    )


def _verify(plan: _Plan, keys: tuple[_Key, ...]) -> Claims:
    without_exp = tuple(conf.get("HUBBUB_TOKENS_WITHOUT_EXP"))
    if plan.draft == 7:
        claims = _verified_07(plan.token, keys[0][1], plan.issuer.algorithms, DRAFT_07_WITHOUT_EXP in without_exp)
    else:
        settings = (
            DRAFT_08_WITHOUT_EXP in without_exp,
            conf.get("HUBBUB_MAX_AUTHORIZATION_DETAILS"),
            conf.get("HUBBUB_MAX_SELECTORS"),
            conf.get("HUBBUB_MAX_TOPIC_LENGTH"),
        )
        audience = conf.get("HUBBUB_TOKEN_AUDIENCE") or plan.hub_url
        if not audience:
            raise InvalidToken("the hub's resource identifier is unknown: set HUBBUB_TOKEN_AUDIENCE")
        claims = _verified_10(plan.token, plan.issuer, _candidates(keys, plan.kid), audience, plan.hub_url, settings)
    if claims.expires is not None and claims.expires <= time.time():
        raise InvalidToken("token has expired")
    return claims


def _candidates(keys: tuple[_Key, ...], kid: str | None) -> tuple[_Key, ...]:
    """The trusted keys worth trying: with a ``kid``, those with that id, then those with none."""
    if kid is None:
        return keys
    return tuple(key for key in keys if key[0] == kid) + tuple(key for key in keys if key[0] is None)


def _check_numeric_dates(payload: Mapping[str, Any]) -> None:
    for claim in ("exp", "nbf", "iat"):
        value = payload.get(claim)
        # RFC 7519 NumericDate is a JSON number; PyJWT also takes a numeric string, which the
        # expiry timer and the cache of verified tokens would then never honour.
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InvalidToken(f"invalid token: claim {claim} must be a number")


def _jwt_error(error: jwt.InvalidTokenError) -> InvalidToken:
    if isinstance(error, jwt.ExpiredSignatureError):
        return InvalidToken("token has expired")
    return InvalidToken(f"invalid token: {error}")


@lru_cache(maxsize=1024)
def _verified_07(token: str, key: str, algorithms: tuple[str, ...], exp_optional: bool) -> Claims:
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=list(algorithms),
            options={"verify_aud": False, "require": [] if exp_optional else ["exp"]},
        )
    except jwt.InvalidTokenError as error:
        raise _jwt_error(error) from None
    _check_numeric_dates(payload)
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


def _selector_list(value: object, name: str) -> SelectorSet | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidToken(f"claim mercure.{name} must be a list of strings")
    if len(value) > conf.get("HUBBUB_MAX_SELECTORS"):
        raise InvalidToken(f"claim mercure.{name} has more than {conf.get('HUBBUB_MAX_SELECTORS')} selectors")
    return SelectorSet(value)


@lru_cache(maxsize=1024)
def _verified_10(
    token: str,
    issuer: _Issuer,
    keys: tuple[_Key, ...],
    audience: str,
    base: str,
    settings: tuple[bool, int, int, int],
) -> Claims:
    exp_optional, max_details, max_topics, max_length = settings
    alg = jwt.get_unverified_header(token).get("alg")
    if not isinstance(alg, str) or alg not in issuer.algorithms:
        raise InvalidToken(f"invalid token: the algorithm {alg!r} is not allowed for the issuer {issuer.name!r}")
    algorithm = get_default_algorithms().get(alg)
    if algorithm is None:
        raise InvalidToken(f"invalid token: the algorithm {alg} needs the cryptography package (hubbub[crypto])")
    options: jwt.types.Options = {"require": ["iss", "aud"] if exp_optional else ["iss", "aud", "exp"]}
    payload: dict[str, Any] | None = None
    for _, key in keys:
        try:
            prepared = _prepared_key(key, alg)
        except Exception:  # a key of another kind than the algorithm's (or unreadable) is never tried
            continue
        try:
            payload = jwt.decode(
                token, prepared, algorithms=[alg], audience=audience, issuer=issuer.name, options=options
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.InvalidTokenError as error:
            raise _jwt_error(error) from None
        break
    if payload is None:
        raise InvalidToken(f"invalid token: no trusted key of the issuer {issuer.name!r} verifies its signature")
    _check_numeric_dates(payload)
    publish, subscribe, payloads = _authorization_details(
        payload.get("authorization_details"), base, max_details, max_topics, max_length
    )
    expires = float(payload["exp"]) if "exp" in payload else None
    return Claims(publish=publish, subscribe=subscribe, expires=expires, draft=8, payloads=payloads)


def _prepared_key(key: str, alg: str) -> Any:
    """``key`` made ready for ``alg``; raises ``InvalidKeyError`` when it is a key of another
    kind (a PEM public key as an HMAC secret, an RSA key for ES256...)."""
    algorithm = get_default_algorithms()[alg]
    if key.startswith("{"):
        jwk = jwt.PyJWK(json.loads(key))
        if jwk.algorithm_name != alg:
            raise jwt.InvalidKeyError(f"the key is for {jwk.algorithm_name}")
        return jwk.key
    return algorithm.prepare_key(key)


def _authorization_details(
    details: object, base: str, max_details: int, max_topics: int, max_length: int
) -> tuple[SelectorSet | None, SelectorSet | None, Payloads]:
    if details is None:
        return None, None, ()
    if not isinstance(details, list):
        raise InvalidToken("invalid token: authorization_details must be a list")
    granted: dict[str, tuple[list[str], list[str]]] = {}
    payloads: list[tuple[SelectorSet, dict[str, object] | None]] = []
    count = 0
    for detail in details:
        if not isinstance(detail, dict) or not isinstance(detail.get("type"), str):
            raise InvalidToken("invalid token: each authorization detail must be an object with a type")
        if detail["type"] != DETAIL_TYPE:
            continue  # another API's detail
        count += 1
        if count > max_details:
            raise InvalidToken(f"invalid token: more than {max_details} Mercure authorization details")
        actions = detail.get("actions")
        if not isinstance(actions, list) or not actions or not all(isinstance(a, str) for a in actions):
            raise InvalidToken(
                "invalid token: the actions of an authorization detail must be a non-empty list of strings"
            )
        exact, patterns = _topic_matchers(detail.get("topics"), max_topics, max_length)
        payload = detail.get("payload")
        if "payload" in detail and not isinstance(payload, dict):
            raise InvalidToken("invalid token: the payload of an authorization detail must be an object")
        try:
            topics = SelectorSet(exact=exact, url_patterns=patterns, base=base)
        except InvalidPattern as error:
            raise InvalidToken(f"invalid token: {error}") from None
        for action in ACTIONS:
            if action in actions:
                both = granted.setdefault(action, ([], []))
                both[0].extend(exact)
                both[1].extend(patterns)
        if "subscribe" in actions:
            payloads.append((topics, payload))

    def grant(action: str) -> SelectorSet | None:
        if action not in granted:
            return None
        exact, patterns = granted[action]
        return SelectorSet(exact=exact, url_patterns=patterns, base=base)

    return grant("publish"), grant("subscribe"), tuple(payloads)


def _topic_matchers(topics: object, max_topics: int, max_length: int) -> tuple[list[str], list[str]]:
    if not isinstance(topics, list) or not topics:
        raise InvalidToken("invalid token: the topics of an authorization detail must be a non-empty list")
    if len(topics) > max_topics:
        raise InvalidToken(f"invalid token: an authorization detail has more than {max_topics} topics")
    exact: list[str] = []
    patterns: list[str] = []
    for matcher in topics:
        if not isinstance(matcher, dict) or not isinstance(matcher.get("match"), str) or not matcher["match"]:
            raise InvalidToken("invalid token: each topic matcher must be an object with a non-empty match")
        match: str = matcher["match"]
        if len(match) > max_length:
            raise InvalidToken(f"invalid token: a topic matcher is longer than {max_length} characters")
        match_type = matcher.get("match_type", "exact")
        if match_type not in MATCH_TYPES:
            raise InvalidToken(f"invalid token: unknown match_type {match_type!r}")
        (exact if match_type == "exact" else patterns).append(match)
    return exact, patterns


# JWK Sets


@dataclass(slots=True)
class _KeySet:
    keys: tuple[_Key, ...] = ()
    fetched: float = -1.0  # time.monotonic() of the last successful fetch
    attempted: float = float("-inf")  # and of the last attempt
    error: str = ""


_key_sets: dict[str, _KeySet] = {}
_fetching: dict[str, threading.Lock] = {}  # one per URL: one fetch at a time, issuers apart
_fetching_lock = threading.Lock()


def _cached_jwks(url: str, kid: str | None) -> tuple[_Key, ...] | None:
    """The keys of the JWK Set at ``url`` that can verify a token naming ``kid``, if the cache
    answers; None when it must be fetched."""
    key_set = _key_sets.get(url)
    if key_set is None or key_set.fetched < 0:
        return None if _may_fetch(key_set) else _unreachable(url, key_set)
    now = time.monotonic()
    stale = now - key_set.fetched > JWKS_MAX_AGE_SECONDS
    unknown = kid is not None and all(key[0] != kid for key in key_set.keys)
    if (stale or unknown) and _may_fetch(key_set):
        return None
    return key_set.keys


def _may_fetch(key_set: _KeySet | None) -> bool:
    return key_set is None or time.monotonic() - key_set.attempted >= JWKS_MIN_REFETCH_SECONDS


def _unreachable(url: str, key_set: _KeySet | None) -> tuple[_Key, ...]:
    reason = f": {key_set.error}" if key_set is not None and key_set.error else ""
    raise KeySetUnavailable(f"the issuer's key set at {url} is unreachable{reason}")


def _fetch_jwks(url: str, kid: str | None) -> tuple[_Key, ...]:
    """Fetch the JWK Set at ``url`` (blocking); keeps the last good one when it fails."""
    with _fetching_lock:
        lock = _fetching.setdefault(url, threading.Lock())
    with lock:
        key_set = _key_sets.setdefault(url, _KeySet())
        if not _may_fetch(key_set):  # another thread just fetched it
            if key_set.fetched < 0:
                return _unreachable(url, key_set)
            return key_set.keys
        key_set.attempted = time.monotonic()
        try:
            response = httpx.get(url, timeout=JWKS_TIMEOUT_SECONDS, follow_redirects=False)
            response.raise_for_status()
            key_set.keys = _jwks_keys(response.json())
        except (httpx.HTTPError, ValueError) as error:
            key_set.error = str(error) or type(error).__name__
            if key_set.fetched < 0 or (kid is not None and all(key[0] != kid for key in key_set.keys)):
                return _unreachable(url, key_set)
            return key_set.keys
        key_set.fetched = key_set.attempted
        key_set.error = ""
        return key_set.keys


def _jwks_keys(document: object) -> tuple[_Key, ...]:
    """The signature keys of a JWK Set (RFC 7517); keys the hub cannot use are left out."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set (no keys list)")
    keys: list[_Key] = []
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig" or jwk.get("kty") == "oct":
            continue
        try:
            jwt.PyJWK(jwk)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        kid = jwk.get("kid")
        keys.append((kid if isinstance(kid, str) else None, json.dumps(jwk, sort_keys=True)))
    return tuple(keys)


# Minting

Matcher = str | Mapping[str, str]


def mint(
    key: str,
    *,
    publish: Matcher | Iterable[Matcher] | None = None,
    subscribe: Matcher | Iterable[Matcher] | None = None,
    expires_in: float | None = None,
    draft: Literal[7, 8] = 7,
    issuer: str = "",
    audience: str | Sequence[str] = (),
    subject: str | None = None,
    payload: Mapping[str, object] | None = None,
) -> str:
    """An HS256 token carrying the given grants (for relaying, tests and clients of the hub).

    Draft 7: a ``mercure`` claim of selectors, ``exp`` only with ``expires_in``. Draft 8: a
    Mercure 1.0 access token (``typ: at+jwt``) from ``issuer`` for ``audience``, expiring after
    ``expires_in`` seconds (default 3600), one authorization detail per action; a matcher is a
    string (an exact topic, or ``*``) or ``{"match": ..., "match_type": "urlpattern"}``, and
    ``payload`` goes with the subscribe detail.
    """
    now = int(time.time())
    if draft == 7:
        mercure: dict[str, list[str]] = {}
        for action, given in (("publish", publish), ("subscribe", subscribe)):
            if given is not None:
                mercure[action] = [_selector(matcher) for matcher in _matchers(given)]
        claims: dict[str, object] = {"mercure": mercure}
        if expires_in is not None:
            claims["exp"] = int(now + expires_in)
        return jwt.encode(claims, key, algorithm="HS256")
    details: list[dict[str, object]] = []
    for action, given in (("publish", publish), ("subscribe", subscribe)):
        topics = [_topic_matcher(matcher) for matcher in _matchers(given)] if given is not None else []
        if topics:  # a detail without topics is invalid: no topics, no detail, nothing granted
            detail: dict[str, object] = {"type": DETAIL_TYPE, "actions": [action], "topics": topics}
            if action == "subscribe" and payload is not None:
                detail["payload"] = dict(payload)
            details.append(detail)
    if payload is not None and (subscribe is None or not _matchers(subscribe)):
        raise ValueError("a payload goes with subscribe=")
    claims = {
        "iss": issuer,
        "aud": audience if isinstance(audience, str) else list(audience),
        "sub": subject or f"urn:uuid:{uuid.uuid4()}",
        "client_id": issuer,
        "iat": now,
        "exp": int(now + (3600 if expires_in is None else expires_in)),
        "jti": f"urn:uuid:{uuid.uuid4()}",
        "authorization_details": details,
    }
    return jwt.encode(claims, key, algorithm="HS256", headers={"typ": "at+jwt"})


def _matchers(given: Matcher | Iterable[Matcher]) -> list[Matcher]:
    if isinstance(given, (str, Mapping)):
        return [given]
    return list(given)


def _selector(matcher: Matcher) -> str:
    if not isinstance(matcher, str):
        raise ValueError("draft-07 tokens carry selectors (strings); URL Pattern matchers need draft=8")
    return matcher


def _topic_matcher(matcher: Matcher) -> dict[str, str]:
    if isinstance(matcher, str):
        return {"match": matcher}
    if not isinstance(matcher.get("match"), str) or matcher.get("match_type", "exact") not in MATCH_TYPES:
        raise ValueError(f"a topic matcher is {{'match': str, 'match_type': 'exact' or 'urlpattern'}}, not {matcher!r}")
    return dict(matcher)


def mint_token(
    *,
    publish: Matcher | Iterable[Matcher] | None = None,
    subscribe: Matcher | Iterable[Matcher] | None = None,
    expires_in: float | None = None,
    key: str | None = None,
    draft: Literal[7, 8] | None = None,
    audience: str | Sequence[str] | None = None,
    subject: str | None = None,
    payload: Mapping[str, object] | None = None,
) -> str:
    """A token for this hub: signed with ``key``, by default the configured publisher key
    when ``publish`` is given, else the subscriber key.

    ``draft`` 7 mints a token with the ``mercure`` claim, 8 a Mercure 1.0 access token issued by
    ``HUBBUB_TOKEN_ISSUER`` for ``audience`` (default ``HUBBUB_TOKEN_AUDIENCE``); unset, 7
    unless ``HUBBUB_MERCURE_DRAFT07`` is False.
    """
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
    if draft is None:
        draft = 7 if conf.get("HUBBUB_MERCURE_DRAFT07") else 8
    if draft == 7:
        if audience is not None or subject is not None or payload is not None:
            raise ValueError("audience=, subject= and payload= are for Mercure 1.0 tokens (draft=8)")
        return mint(key, publish=publish, subscribe=subscribe, expires_in=expires_in)
    if audience is None:
        audience = conf.get("HUBBUB_TOKEN_AUDIENCE")
        if not audience:
            raise ValueError(
                "a Mercure 1.0 token names the hub it is for: set HUBBUB_TOKEN_AUDIENCE "
                "(e.g. https://example.com/.well-known/mercure), or pass audience="
            )
    return mint(
        key,
        publish=publish,
        subscribe=subscribe,
        expires_in=expires_in,
        draft=8,
        issuer=conf.get("HUBBUB_TOKEN_ISSUER"),
        audience=audience,
        subject=subject,
        payload=payload,
    )


def verify_token(token: str, *, publish: bool, hub_url: str | None = None) -> SelectorSet | None:
    """The topics a token presented to this project grants, checked as the hub checks them.

    With ``publish=True`` the token must be signed with a publisher key and the answer is what
    it may publish to; with ``publish=False``, a subscriber key and what it may read. None when
    it grants no such action. A Mercure 1.0 token's ``aud`` must contain
    ``HUBBUB_TOKEN_AUDIENCE`` (or, when that is unset, ``hub_url``: the hub's URL, which then
    is required). Raises ``InvalidToken`` (a ``HubbubError``, one-line reason) when it is
    malformed, expired, not signed by a trusted key, or of a kind that is turned off.
    """
    if hub_url is None:
        hub_url = conf.get("HUBBUB_TOKEN_AUDIENCE") or ""
    claims = decode(token, "publish" if publish else "subscribe", hub_url=hub_url)
    return claims.publish if publish else claims.subscribe
