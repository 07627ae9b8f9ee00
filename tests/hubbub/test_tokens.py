import asyncio
import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

import hubbub
from hubbub import _tokens as tokens
from hubbub._tokens import InvalidRequest, InvalidToken, KeySetUnavailable

KEY = "a-key-of-at-least-32-bytes-for-hs256-ok"
PUBLISHER_KEY = "publisher-key-for-tests-at-least-32-bytes!"  # tests/settings.py
SUBSCRIBER_KEY = "subscriber-key-for-tests-at-least-32-bytes"
HUB = "https://localhost/.well-known/mercure"
ISSUER = "https://auth.example.com"
DETAIL = "https://mercure.rocks/authorization-detail"


def detail(actions, *topics, **extra):
    matchers = [topic if isinstance(topic, dict) else {"match": topic} for topic in topics]
    return {"type": DETAIL, "actions": list(actions), "topics": matchers, **extra}


def at_token(key=PUBLISHER_KEY, *, alg="HS256", headers=None, **claims):
    """A Mercure 1.0 access token from the hub's own issuer for HUB, granting publish on
    everything unless ``claims`` say otherwise (a claim given as None is left out)."""
    now = int(time.time())
    payload = {
        "iss": "hubbub",
        "aud": HUB,
        "sub": "urn:uuid:1",
        "client_id": "tests",
        "iat": now,
        "exp": now + 60,
        "jti": "urn:uuid:2",
        "authorization_details": [detail(["publish"], "*")],
    }
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, key, algorithm=alg, headers={"typ": "at+jwt", **(headers or {})})


def publish_grants(token, **kwargs):
    return tokens.decode(token, "publish", hub_url=kwargs.pop("hub_url", HUB), **kwargs)


@pytest.fixture(autouse=True)
def fresh_key_sets():
    tokens._key_sets.clear()
    yield
    tokens._key_sets.clear()


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def ed_key():
    return ed25519.Ed25519PrivateKey.generate()


def pem(private_key):
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


# Draft-07 tokens (the mercure claim)


def decode_07(token):
    """A token presented for publishing (with the ``draft07_key`` fixture: signed with KEY)."""
    return tokens.decode(token, "publish", hub_url=HUB)


@pytest.fixture
def draft07_key(settings):
    settings.HUBBUB_PUBLISHER_JWT_KEY = KEY


def test_mint_and_decode(draft07_key):
    token = tokens.mint(KEY, publish=["*"], subscribe=["https://example.com/{id}"], expires_in=60)
    claims = decode_07(token)
    assert claims.draft == 7 and claims.payloads == ()
    assert claims.publish.wildcard
    assert claims.subscribe.match("https://example.com/1")
    assert claims.expires == pytest.approx(time.time() + 60, abs=2)


def test_token_without_mercure_claim_grants_nothing(draft07_key):
    claims = decode_07(jwt.encode({"sub": "x"}, KEY, algorithm="HS256"))
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
def test_invalid_tokens(draft07_key, token, reason):
    with pytest.raises(InvalidToken, match=reason):
        decode_07(token)


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
def test_time_claims_must_be_json_numbers(draft07_key, claims):
    """RFC 7519's NumericDate is a JSON number. A numeric string passed PyJWT, and a token
    whose ``exp`` was one was never closed by the hub nor dropped from its cache."""
    draft07 = jwt.encode({"mercure": {"subscribe": ["*"]}, **claims}, KEY, algorithm="HS256")
    draft08 = at_token(KEY, **{"exp": int(time.time()) + 60, **claims})
    for token in (draft07, draft08):
        for _ in range(2):  # and not let through by the cache of verified tokens
            with pytest.raises(InvalidToken):
                tokens.decode(token, "publish", hub_url=HUB)


def test_time_claims_that_are_numbers_are_accepted(draft07_key):
    now = time.time()
    token = jwt.encode(
        {"mercure": {"subscribe": ["*"]}, "exp": now + 60.5, "nbf": int(now) - 1, "iat": now}, KEY, algorithm="HS256"
    )
    assert decode_07(token).expires == pytest.approx(now + 60.5)
    token = at_token(KEY, exp=now + 60.5, nbf=int(now) - 1, iat=now)
    assert publish_grants(token).expires == pytest.approx(now + 60.5)


def test_a_subscriber_token_with_a_string_exp_is_refused(settings):
    token = jwt.encode({"mercure": {"subscribe": ["*"]}, "exp": "9999999999"}, settings.HUBBUB_SUBSCRIBER_JWT_KEY)
    with pytest.raises(hubbub.InvalidToken, match="exp must be a number"):
        hubbub.verify_token(token, publish=False)


def test_unsigned_token_is_rejected(draft07_key):
    with pytest.raises(InvalidToken):
        decode_07(jwt.encode({"mercure": {"publish": ["*"]}}, None, algorithm="none"))
    with pytest.raises(InvalidToken, match="not allowed"):
        publish_grants(at_token(None, alg="none"))


def test_no_key_configured(settings):
    settings.HUBBUB_PUBLISHER_JWT_KEY = None
    with pytest.raises(InvalidToken, match="no key"):
        decode_07(tokens.mint(KEY, publish=["*"]))
    with pytest.raises(InvalidToken, match="no key"):
        publish_grants(at_token(KEY))


def test_draft07_tokens_can_be_turned_off(settings, draft07_key):
    token = tokens.mint(KEY, publish=["*"])
    assert decode_07(token).publish.wildcard
    settings.HUBBUB_MERCURE_DRAFT07 = False
    with pytest.raises(InvalidToken, match="draft-07 tokens are turned off"):
        decode_07(token)
    assert publish_grants(at_token(KEY)).publish.wildcard


def test_draft07_tokens_without_exp_are_accepted_unless_the_setting_says_otherwise(settings, draft07_key):
    token = tokens.mint(KEY, publish=["*"])
    assert decode_07(token).expires is None
    settings.HUBBUB_TOKENS_WITHOUT_EXP = []
    with pytest.raises(InvalidToken, match="exp"):
        decode_07(token)
    assert decode_07(tokens.mint(KEY, publish=["*"], expires_in=60)).publish.wildcard


def test_a_verified_token_is_remembered_but_still_expires(monkeypatch, draft07_key):
    draft07 = tokens.mint(KEY, publish=["*"], expires_in=30)
    draft08 = at_token(KEY, exp=int(time.time()) + 30)
    for token in (draft07, draft08):
        assert decode_07(token).publish.wildcard
    with monkeypatch.context() as patch:
        patch.setattr(jwt, "decode", lambda *args, **kwargs: pytest.fail("verified twice"))
        for token in (draft07, draft08):
            assert decode_07(token).publish.wildcard
        patch.setattr(time, "time", lambda: 10**10)
        for token in (draft07, draft08):
            with pytest.raises(InvalidToken, match="expired"):
                decode_07(token)


def test_the_cache_is_per_key(settings, draft07_key):
    token = tokens.mint(KEY, publish=["*"])
    decode_07(token)
    settings.HUBBUB_PUBLISHER_JWT_KEY = "another-key-of-32-bytes-or-more-here"
    with pytest.raises(InvalidToken, match="Signature"):
        decode_07(token)


def test_the_cache_is_per_hub_and_setting(settings):
    token = at_token(exp=None)
    settings.HUBBUB_TOKENS_WITHOUT_EXP = ["draft-07", "draft-08"]
    assert publish_grants(token).publish.wildcard
    with pytest.raises(InvalidToken, match="Audience doesn't match"):
        publish_grants(token, hub_url="https://elsewhere.example.com/.well-known/mercure")
    settings.HUBBUB_TOKENS_WITHOUT_EXP = ["draft-07"]
    with pytest.raises(InvalidToken, match="exp"):
        publish_grants(token)


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


def test_verify_token_reads_mercure_1_0_tokens(settings):
    token = hubbub.mint_token(publish=["https://example.com/books/1"], draft=8, audience=HUB)
    with pytest.raises(hubbub.InvalidToken, match="HUBBUB_TOKEN_AUDIENCE"):
        hubbub.verify_token(token, publish=True)  # no audience to check it against
    assert hubbub.verify_token(token, publish=True, hub_url=HUB).match("https://example.com/books/1")
    settings.HUBBUB_TOKEN_AUDIENCE = HUB
    granted = hubbub.verify_token(token, publish=True)
    assert granted.match("https://example.com/books/1") and not granted.match("https://example.com/books/2")
    with pytest.raises(hubbub.InvalidToken, match="no trusted key"):
        hubbub.verify_token(token, publish=False, hub_url=HUB)  # signed with the publisher key


# Mercure 1.0 tokens: the header


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+jwt"])
def test_the_typ_at_jwt_makes_a_mercure_1_0_token(typ):
    claims = publish_grants(at_token(headers={"typ": typ}))
    assert claims.draft == 8 and claims.publish.wildcard and claims.subscribe is None


@pytest.mark.parametrize("typ", [None, "JWT", "at+jwt+x", "jwt/at", 7])
def test_without_typ_at_jwt_a_token_is_read_as_draft_07(settings, typ):
    """A token for another purpose (an ID token, typ JWT) never gets its authorization details read."""
    token = at_token(headers={"typ": typ})
    claims = publish_grants(token)
    assert (claims.draft, claims.publish, claims.subscribe) == (7, None, None)
    settings.HUBBUB_MERCURE_DRAFT07 = False
    with pytest.raises(InvalidToken, match="typ must be at\\+jwt"):
        publish_grants(token)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512 wants 64 bytes
def test_an_algorithm_off_the_allowlist_is_refused(settings):
    with pytest.raises(InvalidToken, match="algorithm 'HS512' is not allowed"):
        publish_grants(at_token(alg="HS512"))
    settings.HUBBUB_JWT_ALGORITHMS = ["HS256", "HS512"]
    assert publish_grants(at_token(alg="HS512")).publish.wildcard


def _hs256_signed_with(secret: bytes, header: dict, payload: dict) -> str:
    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = b64(json.dumps(header).encode()) + b"." + b64(json.dumps(payload).encode())
    return (signing_input + b"." + b64(hmac.new(secret, signing_input, hashlib.sha256).digest())).decode()


def test_an_hmac_token_keyed_with_an_issuers_public_key_is_refused(settings, rsa_key):
    """Algorithm confusion: the RSA public key is no secret, so an HS256 token "signed" with
    it must not verify, even when the issuer allows HS256 too."""
    public = pem(rsa_key)
    settings.HUBBUB_TOKEN_ISSUERS = {ISSUER: {"keys": [public], "algorithms": ["RS256", "HS256"]}}
    payload = {"iss": ISSUER, "aud": HUB, "exp": int(time.time()) + 60, "authorization_details": []}
    forged = _hs256_signed_with(public.encode(), {"alg": "HS256", "typ": "at+jwt"}, payload)
    with pytest.raises(InvalidToken, match="no trusted key"):
        publish_grants(forged)
    genuine = jwt.encode(payload, rsa_key, algorithm="RS256", headers={"typ": "at+jwt"})
    assert publish_grants(genuine).draft == 8


# Issuers


def test_the_issuer_must_be_trusted(settings):
    with pytest.raises(InvalidToken, match="iss claim is missing"):
        publish_grants(at_token(iss=None))
    with pytest.raises(InvalidToken, match="issuer 'https://evil.example' is not trusted"):
        publish_grants(at_token(iss="https://evil.example"))
    with pytest.raises(InvalidToken, match="not trusted"):
        publish_grants(at_token(iss="Hubbub"))  # exactly, not case-insensitively
    settings.HUBBUB_TOKEN_ISSUER = "https://localhost"
    with pytest.raises(InvalidToken, match="not trusted"):
        publish_grants(at_token())
    assert publish_grants(at_token(iss="https://localhost")).publish.wildcard


def test_only_the_keys_of_the_tokens_issuer_verify_it(settings):
    other = "https://other.example.com"
    settings.HUBBUB_TOKEN_ISSUERS = {ISSUER: {"keys": [KEY]}, other: {"keys": ["b" * 40]}}
    assert publish_grants(at_token(KEY, iss=ISSUER)).publish.wildcard
    assert publish_grants(at_token("b" * 40, iss=other)).publish.wildcard
    with pytest.raises(InvalidToken, match="no trusted key of the issuer 'https://other.example.com'"):
        publish_grants(at_token(KEY, iss=other))  # signed by the first issuer, claiming the second
    with pytest.raises(InvalidToken, match="no trusted key"):
        publish_grants(at_token(PUBLISHER_KEY, iss=other))  # the hub's own key, claiming the second
    with pytest.raises(InvalidToken, match="no trusted key of the issuer 'hubbub'"):
        publish_grants(at_token(KEY))  # the hub's own issuer, signed with another's key


def test_the_hubs_own_issuer_keeps_the_keys_of_each_role():
    publisher = at_token(PUBLISHER_KEY, authorization_details=[detail(["publish", "subscribe"], "*")])
    assert publish_grants(publisher).publish.wildcard
    with pytest.raises(InvalidToken, match="no trusted key"):
        tokens.decode(publisher, "subscribe", hub_url=HUB)
    subscriber = at_token(SUBSCRIBER_KEY, authorization_details=[detail(["subscribe"], "*")])
    assert tokens.decode(subscriber, "subscribe", hub_url=HUB).subscribe.wildcard


def test_a_misconfigured_issuer_refuses_its_tokens_without_failing(settings):
    settings.HUBBUB_TOKEN_ISSUERS = {ISSUER: {"keys": "not-a-list"}}
    with pytest.raises(InvalidToken, match="configuration of the issuer"):
        publish_grants(at_token(KEY, iss=ISSUER))


# Audience, expiry


def test_the_audience_must_contain_the_hub(settings):
    assert publish_grants(at_token(aud=HUB)).publish.wildcard
    assert publish_grants(at_token(aud=["https://api.example.com", HUB])).publish.wildcard
    for aud, reason in [(None, "aud"), ("https://api.example.com", "Audience"), (["https://a", "https://b"], "Aud")]:
        with pytest.raises(InvalidToken, match=reason):
            publish_grants(at_token(aud=aud))
    settings.HUBBUB_TOKEN_AUDIENCE = "https://hub.example.com/.well-known/mercure"
    with pytest.raises(InvalidToken, match="Audience"):
        publish_grants(at_token(aud=HUB))  # the resource identifier is set: the URL reached is not it
    assert publish_grants(at_token(aud="https://hub.example.com/.well-known/mercure")).publish.wildcard


def test_mercure_1_0_tokens_need_exp_unless_the_setting_allows_it(settings):
    token = at_token(exp=None)
    with pytest.raises(InvalidToken, match="exp"):
        publish_grants(token)
    settings.HUBBUB_TOKENS_WITHOUT_EXP = ["draft-08"]
    claims = publish_grants(token)
    assert claims.publish.wildcard and claims.expires is None


def test_expired_and_not_yet_valid_tokens_are_refused():
    with pytest.raises(InvalidToken, match="expired"):
        publish_grants(at_token(exp=int(time.time()) - 1))
    with pytest.raises(InvalidToken, match="not yet valid"):
        publish_grants(at_token(nbf=int(time.time()) + 60))
    assert publish_grants(at_token(nbf=int(time.time()) - 1)).publish.wildcard


# Asymmetric keys


@pytest.mark.parametrize("alg, fixture", [("RS256", "rsa_key"), ("ES256", "ec_key"), ("EdDSA", "ed_key")])
def test_asymmetric_tokens_verify_with_the_issuers_public_key(request, settings, alg, fixture, rsa_key):
    private = request.getfixturevalue(fixture)
    settings.HUBBUB_TOKEN_ISSUERS = {ISSUER: {"keys": [pem(private)], "algorithms": [alg]}}
    token = at_token(private, alg=alg, iss=ISSUER)
    assert publish_grants(token).publish.wildcard
    forged = at_token(ec.generate_private_key(ec.SECP256R1()), alg="ES256", iss=ISSUER)
    with pytest.raises(InvalidToken):
        publish_grants(forged)
    if alg != "RS256":  # a key of another kind than the algorithm's is never tried
        settings.HUBBUB_TOKEN_ISSUERS = {ISSUER: {"keys": [pem(rsa_key)], "algorithms": [alg, "RS256"]}}
        with pytest.raises(InvalidToken, match="no trusted key"):
            publish_grants(at_token(private, alg=alg, iss=ISSUER, jti="another"))


def test_several_keys_for_rotation_chosen_by_kid(settings, rsa_key, ec_key):
    settings.HUBBUB_TOKEN_ISSUERS = {
        ISSUER: {
            "keys": [{"kid": "old", "key": pem(rsa_key)}, {"kid": "new", "key": pem(ec_key)}, KEY],
            "algorithms": ["RS256", "ES256", "HS256"],
        }
    }
    assert publish_grants(at_token(rsa_key, alg="RS256", iss=ISSUER, headers={"kid": "old"})).publish.wildcard
    assert publish_grants(at_token(ec_key, alg="ES256", iss=ISSUER, headers={"kid": "new"})).publish.wildcard
    assert publish_grants(at_token(ec_key, alg="ES256", iss=ISSUER)).publish.wildcard  # no kid: each key tried
    assert publish_grants(at_token(KEY, iss=ISSUER, headers={"kid": "unknown"})).publish.wildcard  # keys without id
    with pytest.raises(InvalidToken, match="no trusted key"):
        publish_grants(at_token(rsa_key, alg="RS256", iss=ISSUER, headers={"kid": "new"}))


# JWK Sets


class JWKSServer:
    """A JWK Set served over HTTP on 127.0.0.1, counting the requests it answers."""

    def __init__(self):
        self.document: object = {"keys": []}
        self.status = 200
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests += 1
                body = (
                    json.dumps(server.document).encode() if not isinstance(server.document, bytes) else server.document
                )
                self.send_response(server.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, *keys):
        self.document = {"keys": list(keys)}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks(settings):
    server = JWKSServer()
    settings.HUBBUB_TOKEN_ISSUERS = {ISSUER: {"jwks_url": server.url, "algorithms": ["RS256", "ES256", "EdDSA"]}}
    yield server
    server.close()


def jwk(algorithm, private_key, kid, **extra):
    return {**algorithm.to_jwk(private_key.public_key(), as_dict=True), "kid": kid, **extra}


def test_a_jwks_is_fetched_once_and_refetched_for_a_new_kid(jwks, monkeypatch, rsa_key, ec_key, ed_key):
    jwks.serve(jwk(RSAAlgorithm, rsa_key, "r1"))
    first = at_token(rsa_key, alg="RS256", iss=ISSUER, headers={"kid": "r1"})
    assert publish_grants(first).publish.wildcard
    assert publish_grants(at_token(rsa_key, alg="RS256", iss=ISSUER, headers={"kid": "r1"}, jti="2")).publish
    assert jwks.requests == 1
    # The issuer rotates to a new key: the first token naming it has the set fetched again.
    jwks.serve(jwk(RSAAlgorithm, rsa_key, "r1"), jwk(ECAlgorithm, ec_key, "e1"))
    monkeypatch.setattr(tokens, "JWKS_MIN_REFETCH_SECONDS", 0.0)
    assert publish_grants(at_token(ec_key, alg="ES256", iss=ISSUER, headers={"kid": "e1"})).publish.wildcard
    assert jwks.requests == 2
    # Refetching is limited: an unknown kid right after a fetch is answered from the cache.
    monkeypatch.setattr(tokens, "JWKS_MIN_REFETCH_SECONDS", 60.0)
    jwks.serve(jwk(OKPAlgorithm, ed_key, "d1"))
    with pytest.raises(InvalidToken, match="no trusted key"):
        publish_grants(at_token(ed_key, alg="EdDSA", iss=ISSUER, headers={"kid": "d1"}))
    assert jwks.requests == 2
    monkeypatch.setattr(tokens, "JWKS_MIN_REFETCH_SECONDS", 0.0)
    assert publish_grants(at_token(ed_key, alg="EdDSA", iss=ISSUER, headers={"kid": "d1"}, jti="3")).publish
    assert jwks.requests == 3
    # The old keys are gone from the set, so their tokens are refused from now on.
    with pytest.raises(InvalidToken, match="no trusted key"):
        publish_grants(at_token(rsa_key, alg="RS256", iss=ISSUER, headers={"kid": "r1"}, jti="4"))


def test_a_stale_jwks_is_fetched_again(jwks, monkeypatch, rsa_key):
    jwks.serve(jwk(RSAAlgorithm, rsa_key, "r1"))
    token = at_token(rsa_key, alg="RS256", iss=ISSUER, headers={"kid": "r1"})
    publish_grants(token)
    monkeypatch.setattr(tokens, "JWKS_MAX_AGE_SECONDS", 0.0)
    monkeypatch.setattr(tokens, "JWKS_MIN_REFETCH_SECONDS", 0.0)
    jwks.serve()  # the key was withdrawn
    with pytest.raises(InvalidToken, match="no trusted key"):
        publish_grants(token)
    assert jwks.requests == 2


def test_jwks_keys_that_cannot_sign_are_left_out(jwks, rsa_key):
    jwks.serve(
        jwk(RSAAlgorithm, rsa_key, "enc", use="enc"),
        {"kty": "oct", "k": base64.urlsafe_b64encode(KEY.encode()).decode().rstrip("="), "kid": "secret"},
        {"kty": "nonsense", "kid": "bad"},
        "not an object",
    )
    with pytest.raises(InvalidToken, match="no trusted key"):
        publish_grants(at_token(rsa_key, alg="RS256", iss=ISSUER, headers={"kid": "enc"}))
    with pytest.raises(InvalidToken):  # HS256 is not on the issuer's list, and the oct key is never used
        publish_grants(at_token(KEY, iss=ISSUER, headers={"kid": "secret"}))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_jwks_is_a_503(settings, monkeypatch, rsa_key):
    url = f"http://127.0.0.1:{free_port()}/jwks.json"
    settings.HUBBUB_TOKEN_ISSUERS = {ISSUER: {"jwks_url": url, "algorithms": ["RS256"]}}
    token = at_token(rsa_key, alg="RS256", iss=ISSUER, headers={"kid": "r1"})
    with pytest.raises(KeySetUnavailable, match=f"the issuer's key set at {url} is unreachable") as raised:
        publish_grants(token)
    assert raised.value.status == 503 and isinstance(raised.value, hubbub.HubbubError)
    calls = []
    monkeypatch.setattr(tokens.httpx, "get", lambda *args, **kwargs: calls.append(args) or pytest.fail("fetched"))
    with pytest.raises(KeySetUnavailable):  # not asked again at once
        publish_grants(token)
    assert calls == []


@pytest.mark.parametrize("status, document", [(500, {"keys": []}), (200, b"<html>"), (200, {"no": "keys"})])
def test_a_jwks_endpoint_answering_nonsense_is_a_503(jwks, rsa_key, status, document):
    jwks.status, jwks.document = status, document
    with pytest.raises(KeySetUnavailable, match="unreachable"):
        publish_grants(at_token(rsa_key, alg="RS256", iss=ISSUER, headers={"kid": "r1"}))


def test_the_last_good_jwks_is_kept_while_the_endpoint_is_down(jwks, monkeypatch, rsa_key):
    jwks.serve(jwk(RSAAlgorithm, rsa_key, "r1"))
    publish_grants(at_token(rsa_key, alg="RS256", iss=ISSUER, headers={"kid": "r1"}))
    jwks.status = 503
    monkeypatch.setattr(tokens, "JWKS_MAX_AGE_SECONDS", 0.0)
    monkeypatch.setattr(tokens, "JWKS_MIN_REFETCH_SECONDS", 0.0)
    assert publish_grants(at_token(rsa_key, alg="RS256", iss=ISSUER, headers={"kid": "r1"}, jti="2")).publish
    with pytest.raises(KeySetUnavailable):  # a key it never saw: it cannot tell
        publish_grants(at_token(rsa_key, alg="RS256", iss=ISSUER, headers={"kid": "r2"}))
    assert jwks.requests == 3


async def test_adecode_fetches_the_jwks_off_the_event_loop(jwks, monkeypatch, rsa_key):
    jwks.serve(jwk(RSAAlgorithm, rsa_key, "r1"))
    threads = []
    fetch = tokens._fetch_jwks

    def spy(*args):
        threads.append(threading.current_thread())
        return fetch(*args)

    monkeypatch.setattr(tokens, "_fetch_jwks", spy)
    token = at_token(rsa_key, alg="RS256", iss=ISSUER, headers={"kid": "r1"})
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticking = asyncio.ensure_future(ticker())
    claims = await tokens.adecode(token, "publish", hub_url=HUB)
    ticking.cancel()
    assert claims.publish.wildcard and claims.draft == 8
    assert threads and threads[0] is not threading.main_thread() and threads[0] is not threading.current_thread()
    assert ticks > 0
    assert (await tokens.adecode(token, "publish", hub_url=HUB)).publish.wildcard  # cached: no thread
    assert len(threads) == 1


async def test_adecode_refuses_what_decode_refuses(jwks, rsa_key, settings):
    jwks.status = 500
    with pytest.raises(KeySetUnavailable):
        await tokens.adecode(at_token(rsa_key, alg="RS256", iss=ISSUER), "publish", hub_url=HUB)
    with pytest.raises(InvalidToken, match="not trusted"):
        await tokens.adecode(at_token(iss="https://evil.example"), "publish", hub_url=HUB)
    assert (await tokens.adecode(at_token(), "publish", hub_url=HUB)).publish.wildcard
    settings.HUBBUB_PUBLISHER_JWT_KEY = KEY
    assert (await tokens.adecode(tokens.mint(KEY, publish=["*"]), "publish", hub_url=HUB)).draft == 7


# authorization_details


def grants(*details):
    return publish_grants(at_token(authorization_details=list(details)))


def test_wildcards_in_every_matcher_type():
    for matcher in ({"match": "*"}, {"match": "*", "match_type": "exact"}, {"match": "*", "match_type": "urlpattern"}):
        claims = grants(detail(["publish"], matcher))
        assert claims.publish.wildcard and claims.publish.match("https://example.com/anything")


def test_exact_and_url_pattern_matchers():
    books = {"match": "https://example.com/books/:id", "match_type": "urlpattern"}
    claims = grants(
        detail(["publish"], "https://example.com/shelf", books, "https://example.com/authors/:id"),
        detail(["subscribe"], {"match": "/users/:id/inbox", "match_type": "urlpattern"}),
    )
    assert claims.publish.match("https://example.com/shelf") and not claims.publish.match("https://example.com/shelf/1")
    assert claims.publish.match("https://example.com/books/7")
    assert not claims.publish.match("https://example.com/books/7/reviews")
    assert claims.publish.match("https://example.com/authors/:id")  # exact is exact
    assert not claims.publish.match("https://example.com/authors/7")
    assert claims.subscribe.match("https://localhost/users/42/inbox")  # relative: resolved against the hub's URL
    assert not claims.subscribe.match("https://example.com/users/42/inbox")


def test_actions_and_other_details():
    claims = grants(
        detail(["read", "publish"], "/a"),  # an unknown action is ignored
        detail(["future-action"], "/b"),  # grants nothing
        {"type": "https://example.com/payments", "actions": 7, "anything": True},  # not a Mercure detail
    )
    assert claims.publish.matchers == ["/a"] and claims.subscribe is None
    nothing = grants(detail(["future-action"], "*"))
    assert (nothing.publish, nothing.subscribe) == (None, None)
    absent = publish_grants(at_token(authorization_details=None))
    assert (absent.publish, absent.subscribe, absent.payloads) == (None, None, ())
    both = grants(detail(["publish", "subscribe"], "/c"), detail(["subscribe"], "/d"))
    assert both.publish.matchers == ["/c"] and both.subscribe.matchers == ["/c", "/d"]


@pytest.mark.parametrize(
    "details, reason",
    [
        ({"type": DETAIL}, "authorization_details must be a list"),
        (["not an object"], "must be an object with a type"),
        ([{"actions": ["publish"], "topics": [{"match": "*"}]}], "must be an object with a type"),
        ([detail([], "*")], "actions"),
        ([{**detail(["publish"], "*"), "actions": "publish"}], "actions"),
        ([detail(["publish", 1], "*")], "actions"),
        ([detail(["publish"])], "topics"),
        ([{"type": DETAIL, "actions": ["publish"]}], "topics"),
        ([{**detail(["publish"]), "topics": ["https://example.com/a"]}], "topic matcher"),
        ([{**detail(["publish"]), "topics": [{"match_type": "exact"}]}], "topic matcher"),
        ([{**detail(["publish"]), "topics": [{"match": 7}]}], "topic matcher"),
        ([{**detail(["publish"]), "topics": [{"match": ""}]}], "topic matcher"),
        ([detail(["publish"], {"match": "/a", "match_type": "regexp"})], "unknown match_type 'regexp'"),
        ([detail(["publish"], {"match": "/a", "match_type": "URLPattern"})], "unknown match_type"),
        ([detail(["publish"], {"match": "https://example.com/(", "match_type": "urlpattern"})], "URL Pattern"),
        ([detail(["subscribe"], "*", payload="text")], "payload"),
        # One bad detail spoils the token, whatever the good ones grant.
        ([detail(["publish"], "*"), detail(["publish"], {"match": "/a", "match_type": "regexp"})], "match_type"),
    ],
)
def test_malformed_details_invalidate_the_token(details, reason):
    token = at_token(authorization_details=details)
    for _ in range(2):
        with pytest.raises(InvalidToken, match=reason):
            publish_grants(token)


def test_limits(settings):
    settings.HUBBUB_MAX_AUTHORIZATION_DETAILS = 2
    settings.HUBBUB_MAX_SELECTORS = 3
    settings.HUBBUB_MAX_TOPIC_LENGTH = 30
    other = {"type": "https://example.com/other"}
    assert grants(detail(["publish"], "/a"), other, other, detail(["subscribe"], "/a", "/b", "/c")).publish
    with pytest.raises(InvalidToken, match="more than 2 Mercure authorization details"):
        grants(*[detail(["publish"], "/a")] * 3)
    with pytest.raises(InvalidToken, match="more than 3 topics"):
        grants(detail(["publish"], "/a", "/b", "/c", "/d"))
    assert grants(detail(["publish"], "/" + "a" * 29)).publish
    with pytest.raises(InvalidToken, match="longer than 30"):
        grants(detail(["publish"], {"match": "/" + "a" * 30, "match_type": "urlpattern"}))


def test_payloads_are_kept_in_order_with_their_topics():
    claims = grants(
        detail(["subscribe"], "https://example.com/foo", payload={"custom1": "foo"}),
        detail(["publish"], "*", payload={"ignored": True}),
        detail(["subscribe"], {"match": "https://example.com/bar/:id", "match_type": "urlpattern"}),
        detail(["subscribe", "publish"], "*", payload={"custom3": ["default"]}),
    )
    assert [payload for _, payload in claims.payloads] == [{"custom1": "foo"}, None, {"custom3": ["default"]}]
    topics = [selectors for selectors, _ in claims.payloads]
    assert topics[0].match("https://example.com/foo") and not topics[0].match("https://example.com/bar/1")
    assert topics[1].match("https://example.com/bar/1") and not topics[1].match("https://example.com/foo")
    assert topics[2].wildcard


# find()


def test_find_precedence(settings):
    header = {b"authorization": b"Bearer from-header"}
    query = {"authorization": ["from-query"]}
    cookies = {"mercureAuthorization": "from-cookie", "__Secure-mercure_access_token": "from-1.0-cookie"}
    assert tokens.find(header, query, cookies) == ("from-header", "header")
    assert tokens.find({}, query, cookies) == ("from-1.0-cookie", "cookie")
    assert tokens.find({}, query, {"mercureAuthorization": "from-cookie"}) == ("from-query", "query")
    assert tokens.find({}, {"access_token": ["t"]}, {}) == ("t", "query")
    assert tokens.find({}, {}, {"mercureAuthorization": "from-cookie"}) == ("from-cookie", "cookie")
    assert tokens.find({}, {}, {}) == (None, "")
    assert tokens.find({b"authorization": b"bearer lower"}, {}, {}) == ("lower", "header")
    assert tokens.find({b"authorization": b"BEARER upper"}, {}, {}) == ("upper", "header")


def test_find_without_draft_07(settings):
    settings.HUBBUB_MERCURE_DRAFT07 = False
    cookies = {"mercureAuthorization": "from-cookie", "__Secure-mercure_access_token": "from-1.0-cookie"}
    assert tokens.find({b"authorization": b"Bearer h"}, {"access_token": ["q"]}, cookies) == ("h", "header")
    assert tokens.find({}, {}, cookies) == ("from-1.0-cookie", "cookie")
    assert tokens.find({}, {}, {"mercureAuthorization": "from-cookie"}) == (None, "")  # not a 1.0 cookie
    for name in ("access_token", "authorization"):
        with pytest.raises(InvalidRequest, match="not accepted in the query string") as raised:
            tokens.find({}, {name: ["q"]}, {})
        assert raised.value.status == 400


@pytest.mark.parametrize("value", [b"Basic dXNlcjpwYXNz", b"Bearer", b"Bearer ", b"Bearer a b", b"Bearertoken", b""])
def test_find_rejects_malformed_headers(value):
    with pytest.raises(InvalidRequest, match="Bearer <token>") as raised:
        tokens.find({b"authorization": value}, {}, {"__Secure-mercure_access_token": "cookie"})
    assert raised.value.status == 400


# Minting


def test_mint_token_mercure_1_0_roundtrip(settings):
    settings.HUBBUB_TOKEN_AUDIENCE = HUB
    token = hubbub.mint_token(
        publish=["https://example.com/shelf", {"match": "https://example.com/books/:id", "match_type": "urlpattern"}],
        draft=8,
    )
    header = jwt.get_unverified_header(token)
    assert (header["typ"], header["alg"]) == ("at+jwt", "HS256")
    payload = jwt.decode(token, PUBLISHER_KEY, algorithms=["HS256"], audience=HUB)
    assert {"iss", "aud", "sub", "client_id", "iat", "exp", "jti"} <= payload.keys()
    assert (payload["iss"], payload["aud"]) == ("hubbub", HUB)
    assert payload["exp"] - payload["iat"] == 3600
    claims = publish_grants(token, hub_url="https://elsewhere/.well-known/mercure")  # the setting is the audience
    assert claims.draft == 8 and claims.subscribe is None
    assert claims.publish.match("https://example.com/books/3") and claims.publish.match("https://example.com/shelf")
    assert not claims.publish.match("https://example.com/authors/3")


def test_mint_token_subscribe_with_payload(settings):
    token = hubbub.mint_token(
        subscribe="*", draft=8, audience=[HUB, "https://other"], expires_in=60, subject="user:42", payload={"a": 1}
    )
    claims = tokens.decode(token, "subscribe", hub_url=HUB)
    assert claims.subscribe.wildcard and claims.publish is None
    assert claims.expires == pytest.approx(time.time() + 60, abs=2)
    assert [payload for _, payload in claims.payloads] == [{"a": 1}]
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == "user:42"
    nothing = tokens.decode(hubbub.mint_token(subscribe=[], draft=8, audience=HUB), "subscribe", hub_url=HUB)
    assert (nothing.publish, nothing.subscribe) == (None, None)


def test_mint_token_draft_follows_the_setting(settings):
    assert "mercure" in jwt.decode(hubbub.mint_token(publish="*"), options={"verify_signature": False})
    settings.HUBBUB_MERCURE_DRAFT07 = False
    with pytest.raises(ValueError, match="set HUBBUB_TOKEN_AUDIENCE"):
        hubbub.mint_token(publish="*")
    settings.HUBBUB_TOKEN_AUDIENCE = HUB
    settings.HUBBUB_TOKEN_ISSUER = "https://localhost"
    token = hubbub.mint_token(publish="*")
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == "https://localhost"
    assert publish_grants(token).publish.wildcard


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        ({"publish": {"match": "/a", "match_type": "urlpattern"}, "draft": 7}, "need draft=8"),
        ({"publish": "*", "draft": 7, "audience": HUB}, "for Mercure 1.0 tokens"),
        ({"publish": {"match": "/a", "match_type": "regexp"}, "draft": 8, "audience": HUB}, "topic matcher"),
        ({"publish": [{"topic": "/a"}], "draft": 8, "audience": HUB}, "topic matcher"),
        ({"publish": "*", "draft": 8, "audience": HUB, "payload": {"a": 1}}, "payload goes with subscribe"),
    ],
)
def test_mint_token_refuses_what_it_cannot_mint(kwargs, reason):
    with pytest.raises(ValueError, match=reason):
        hubbub.mint_token(**kwargs)
