import time

import jwt
import pytest

import hubbub
from hubbub import _tokens as tokens
from hubbub._tokens import InvalidToken

KEY = "a-key-of-at-least-32-bytes-for-hs256-ok"


def test_mint_and_decode():
    token = tokens.mint(KEY, publish=["*"], subscribe=["https://example.com/{id}"], expires_in=60)
    claims = tokens.decode(token, KEY)
    assert claims.publish.wildcard
    assert claims.subscribe.match("https://example.com/1")
    assert claims.expires == pytest.approx(time.time() + 60, abs=2)


def test_token_without_mercure_claim_grants_nothing():
    claims = tokens.decode(jwt.encode({"sub": "x"}, KEY, algorithm="HS256"), KEY)
    assert claims.publish is None and claims.subscribe is None


@pytest.mark.parametrize(
    "token, reason",
    [
        ("not-a-jwt", "invalid token"),
        (
            jwt.encode({"mercure": {"publish": ["*"]}}, "another-key-of-32-bytes-or-more-here", algorithm="HS256"),
            "Signature",
        ),
        (jwt.encode({"mercure": {"publish": ["*"]}, "exp": 1}, KEY, algorithm="HS256"), "expired"),
        (jwt.encode({"mercure": {"publish": "*"}}, KEY, algorithm="HS256"), "list of strings"),
        (jwt.encode({"mercure": ["*"]}, KEY, algorithm="HS256"), "object"),
        (jwt.encode({"mercure": {"publish": ["*"]}}, KEY * 2, algorithm="HS512"), "alg"),
    ],
)
def test_invalid_tokens(token, reason):
    with pytest.raises(InvalidToken, match=reason):
        tokens.decode(token, KEY)


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": "9999999999"},  # PyJWT reads it as a number; the hub's expiry timer would not: never expires
        {"exp": "1"},
        {"nbf": "1"},
        {"iat": "1"},
        {"exp": True},
        {"nbf": False},
        {"exp": [9999999999]},
    ],
)
def test_time_claims_must_be_json_numbers(claims):
    """RFC 7519's NumericDate is a JSON number. A numeric string passed PyJWT, and a token
    whose ``exp`` was one was never closed by the hub nor dropped from its cache."""
    token = jwt.encode({"mercure": {"subscribe": ["*"]}, **claims}, KEY, algorithm="HS256")
    for _ in range(2):  # and not let through by the cache of verified tokens
        with pytest.raises(InvalidToken):
            tokens.decode(token, KEY)


def test_time_claims_that_are_numbers_are_accepted():
    now = time.time()
    token = jwt.encode(
        {"mercure": {"subscribe": ["*"]}, "exp": now + 60.5, "nbf": int(now) - 1, "iat": now}, KEY, algorithm="HS256"
    )
    assert tokens.decode(token, KEY).expires == pytest.approx(now + 60.5)


def test_a_subscriber_token_with_a_string_exp_is_refused(settings):
    token = jwt.encode({"mercure": {"subscribe": ["*"]}, "exp": "9999999999"}, settings.HUBBUB_SUBSCRIBER_JWT_KEY)
    with pytest.raises(hubbub.InvalidToken, match="exp must be a number"):
        hubbub.verify_token(token, publish=False)


def test_unsigned_token_is_rejected():
    token = jwt.encode({"mercure": {"publish": ["*"]}}, None, algorithm="none")
    with pytest.raises(InvalidToken):
        tokens.decode(token, KEY)


def test_no_key_configured():
    with pytest.raises(InvalidToken, match="no key"):
        tokens.decode(tokens.mint(KEY, publish=["*"]), None)


def test_find_precedence_header_then_query_then_cookie():
    headers = {b"authorization": b"Bearer from-header"}
    query = {"authorization": ["from-query"]}
    cookies = {"mercureAuthorization": "from-cookie"}
    assert tokens.find(headers, query, cookies) == ("from-header", "header")
    assert tokens.find({}, query, cookies) == ("from-query", "query")
    assert tokens.find({}, {"access_token": ["t"]}, {}) == ("t", "query")
    assert tokens.find({}, {}, cookies) == ("from-cookie", "cookie")
    assert tokens.find({}, {}, {}) == (None, "")


def test_find_rejects_other_schemes():
    with pytest.raises(InvalidToken, match="Bearer"):
        tokens.find({b"authorization": b"Basic dXNlcjpwYXNz"}, {}, {})


def test_a_verified_token_is_remembered_but_still_expires(monkeypatch):
    token = tokens.mint(KEY, publish=["*"], expires_in=30)
    assert tokens.decode(token, KEY).publish.wildcard
    monkeypatch.setattr(jwt, "decode", lambda *args, **kwargs: pytest.fail("verified twice"))
    assert tokens.decode(token, KEY).publish.wildcard
    monkeypatch.setattr(time, "time", lambda: 10**10)
    with pytest.raises(InvalidToken, match="expired"):
        tokens.decode(token, KEY)


def test_the_cache_is_per_key():
    token = tokens.mint(KEY, publish=["*"])
    tokens.decode(token, KEY)
    with pytest.raises(InvalidToken, match="Signature"):
        tokens.decode(token, "another-key-of-32-bytes-or-more-here")


def test_verify_token_checks_each_kind_with_its_own_key(settings):
    publisher = hubbub.mint_token(publish=["/books/{id}"])
    subscriber = hubbub.mint_token(subscribe=["/books/1"])
    granted = hubbub.verify_token(publisher, publish=True)
    assert granted is not None and granted.match("/books/7") and not granted.match("/shelf")
    with pytest.raises(hubbub.InvalidToken, match="Signature"):
        hubbub.verify_token(publisher, publish=False)
    with pytest.raises(hubbub.InvalidToken, match="Signature"):
        hubbub.verify_token(subscriber, publish=True)
    assert hubbub.verify_token(subscriber, publish=False).match("/books/1")
    assert hubbub.verify_token(hubbub.mint_token(subscribe=["*"]), publish=False).wildcard


def test_verify_token_refuses_what_the_hub_refuses(settings):
    with pytest.raises(hubbub.InvalidToken, match="expired"):
        hubbub.verify_token(
            jwt.encode({"mercure": {"publish": ["*"]}, "exp": 1}, settings.HUBBUB_PUBLISHER_JWT_KEY), publish=True
        )
    assert hubbub.verify_token(jwt.encode({"sub": "x"}, settings.HUBBUB_PUBLISHER_JWT_KEY), publish=True) is None
    settings.HUBBUB_PUBLISHER_JWT_KEY = None
    with pytest.raises(hubbub.InvalidToken, match="no key configured"):
        hubbub.verify_token(hubbub.mint_token(publish=["*"], key="k" * 40), publish=True)
