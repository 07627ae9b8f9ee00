"""Library defaults: keys derived from SECRET_KEY, the relay to the local server, the cache."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys

import jwt
import pytest

import hubbub
from hubbub import _conf as conf, _layers as layers
from tests.hubbub.asgi import publish
from tests.servers import ROOT

KEYS = ("HUBBUB_PUBLISHER_JWT_KEY", "HUBBUB_SUBSCRIBER_JWT_KEY")


@pytest.fixture
def derived_keys(settings):
    """The project sets neither key."""
    for name in KEYS:
        delattr(settings, name)
    return settings


def test_unset_keys_are_derived_from_the_secret_key(derived_keys):
    publisher, subscriber = (conf.get(name) for name in KEYS)
    secret = derived_keys.SECRET_KEY.encode()
    assert publisher == hmac.new(secret, b"hubbub.publisher", hashlib.sha256).hexdigest()
    assert subscriber == hmac.new(secret, b"hubbub.subscriber", hashlib.sha256).hexdigest()
    assert publisher != subscriber
    assert len(publisher) >= 32


def test_derived_keys_are_the_same_in_another_process(derived_keys):
    """Stable across processes and restarts: a management command signs what the server accepts."""
    script = (
        "import sys; from django.conf import settings; settings.configure(SECRET_KEY=sys.argv[1]); "
        "from hubbub import _conf; print(*(_conf.get(name) for name in sys.argv[2:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, derived_keys.SECRET_KEY, *KEYS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == [conf.get(name) for name in KEYS]


def test_another_secret_key_derives_other_keys(derived_keys):
    before = [conf.get(name) for name in KEYS]
    derived_keys.SECRET_KEY = "another-secret-key-for-this-test-0123456789-0123456789"
    after = [conf.get(name) for name in KEYS]
    assert after[0] != before[0] and after[1] != before[1]


async def test_a_token_signed_with_a_derived_key_is_accepted_and_another_is_not(derived_keys, transactional_db):
    token = hubbub.mint_token(publish=["*"])
    assert jwt.decode(token, conf.get("HUBBUB_PUBLISHER_JWT_KEY"), algorithms=["HS256"])
    assert (await publish(token=token, topic="t", data="signed with the derived key"))[0] == 200
    forged = jwt.encode({"mercure": {"publish": ["*"]}}, derived_keys.SECRET_KEY, algorithm="HS256")
    assert (await publish(token=forged, topic="t", data="x"))[0] == 401
    subscriber_token = hubbub.mint_token(subscribe=["*"])
    assert jwt.decode(subscriber_token, conf.get("HUBBUB_SUBSCRIBER_JWT_KEY"), algorithms=["HS256"])


@pytest.mark.django_db(transaction=True)
async def test_a_key_set_to_none_disables_that_kind_of_token(settings):
    settings.HUBBUB_PUBLISHER_JWT_KEY = None
    assert conf.get("HUBBUB_PUBLISHER_JWT_KEY") is None
    with pytest.raises(ValueError, match="no such token"):
        hubbub.mint_token(publish=["*"])
    token = jwt.encode({"mercure": {"publish": ["*"]}}, "x" * 40, algorithm="HS256")
    status, body = await publish(token=token, topic="t", data="x")
    assert status == 401 and b"no key configured" in body


def test_explicit_keys_are_used_as_they_are(settings):
    assert conf.get("HUBBUB_PUBLISHER_JWT_KEY") == settings.HUBBUB_PUBLISHER_JWT_KEY
    assert conf.get("HUBBUB_SUBSCRIBER_JWT_KEY") == settings.HUBBUB_SUBSCRIBER_JWT_KEY


@pytest.mark.parametrize(
    ("port", "url"),
    [("8123", "http://127.0.0.1:8123/.well-known/mercure"), (None, "http://127.0.0.1:8000/.well-known/mercure")],
)
def test_the_relay_url_defaults_to_the_local_server_on_port(settings, monkeypatch, port, url):
    if port is None:
        monkeypatch.delenv("PORT", raising=False)
    else:
        monkeypatch.setenv("PORT", port)
    del settings.HUBBUB_RELAY_URL  # tests/settings.py sets None; unset, the default applies
    assert conf.get("HUBBUB_RELAY_URL") == url
    assert not conf.is_set("HUBBUB_RELAY_URL")


def test_a_relay_url_setting_wins_over_port(settings, monkeypatch):
    monkeypatch.setenv("PORT", "8123")
    settings.HUBBUB_RELAY_URL = "http://hub.internal:9000/.well-known/mercure"
    assert conf.get("HUBBUB_RELAY_URL") == "http://hub.internal:9000/.well-known/mercure"
    settings.HUBBUB_RELAY_URL = None
    assert conf.get("HUBBUB_RELAY_URL") is None


def test_a_changed_setting_is_read_again(settings):
    assert conf.get("HUBBUB_HEARTBEAT_SECONDS") == settings.HUBBUB_HEARTBEAT_SECONDS
    settings.HUBBUB_HEARTBEAT_SECONDS = 0.5
    assert conf.get("HUBBUB_HEARTBEAT_SECONDS") == 0.5
    del settings.HUBBUB_HEARTBEAT_SECONDS
    assert conf.get("HUBBUB_HEARTBEAT_SECONDS") == conf.DEFAULTS["HUBBUB_HEARTBEAT_SECONDS"]


def test_the_redis_prefix_defaults_to_one_derived_from_the_deployment(settings):
    assert not conf.is_set("HUBBUB_REDIS_PREFIX")
    derived = conf.get("HUBBUB_REDIS_PREFIX")
    assert derived == layers.deployment_prefix() and derived.isalnum()
    settings.HUBBUB_REDIS_PREFIX = "site-a"
    assert conf.get("HUBBUB_REDIS_PREFIX") == "site-a" and conf.is_set("HUBBUB_REDIS_PREFIX")
    del settings.HUBBUB_REDIS_PREFIX
    assert conf.get("HUBBUB_REDIS_PREFIX") == derived


@pytest.mark.parametrize("setting", ["CHANNEL_LAYERS", "HUBBUB_CHANNEL_LAYER"])
def test_the_derived_redis_prefix_follows_the_settings_it_derives_from(settings, setting):
    """A cached prefix must not outlive the channel layer it was derived from (override_settings in tests)."""
    before = conf.get("HUBBUB_REDIS_PREFIX")
    redis = {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": ["redis://h:6379/5"]}}
    if setting == "CHANNEL_LAYERS":
        settings.CHANNEL_LAYERS = {"default": redis}
    else:
        settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS, "hub": redis}
        settings.HUBBUB_CHANNEL_LAYER = "hub"
    assert conf.get("HUBBUB_REDIS_PREFIX") not in (before, None)
    assert conf.get("HUBBUB_REDIS_PREFIX") == layers.deployment_prefix()


def test_every_setting_has_a_default_and_unknown_names_are_refused():
    assert all(name.startswith("HUBBUB_") for name in conf.DEFAULTS)
    with pytest.raises(KeyError):
        conf.get("HUBBUB_NO_SUCH_SETTING")
