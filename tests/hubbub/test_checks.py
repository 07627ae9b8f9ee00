"""System checks: each one's id, triggered and not, with one clear sentence and a hint."""

from __future__ import annotations

import jwt.algorithms
import pytest
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.apps import apps
from django.core import checks
from django.core.handlers.asgi import ASGIHandler
from django.core.management import CommandError, call_command
from django.urls import re_path

from hubbub import _checks
from hubbub.asgi import urlpatterns, with_hub

ALL_IDS = [
    "hubbub.E001",
    "hubbub.E002",
    "hubbub.E003",
    "hubbub.E004",
    "hubbub.E005",
    "hubbub.E006",
    "hubbub.E007",
    "hubbub.E008",
    "hubbub.E009",
    "hubbub.E010",
    "hubbub.W001",
    "hubbub.W002",
]


def messages(deploy: bool = False) -> list[checks.CheckMessage]:
    found = checks.run_checks(include_deployment_checks=deploy)
    found = [message for message in found if (message.id or "").startswith("hubbub.")]
    for message in found:
        assert_clear(message)
    return found


def ids(deploy: bool = False) -> list[str]:
    return [message.id for message in messages(deploy)]


def assert_clear(message: checks.CheckMessage) -> None:
    """One sentence saying what is wrong, and a hint saying what to do."""
    text = message.msg
    assert not text[0].islower() and text.endswith("."), text
    assert ". " not in text.replace("e.g. ", "").rstrip("."), text
    assert message.hint and len(message.hint) > 20, message


def test_default_settings_pass():
    assert ids() == []


def test_every_check_id_is_listed_in_the_module_docstring():
    documented = [line.split("``")[1] for line in _checks.__doc__.splitlines() if line.startswith("| ``hubbub.")]
    assert documented == ALL_IDS


# E001: HUBBUB_MAX_ID_LENGTH


@pytest.mark.parametrize("limit", [513, 0, "512", None])
def test_an_id_length_the_history_cannot_store_is_an_error(settings, limit):
    settings.HUBBUB_MAX_ID_LENGTH = limit
    assert ids() == ["hubbub.E001"]


@pytest.mark.parametrize("limit", [1, 100, 512])
def test_an_id_length_the_history_can_store_passes(settings, limit):
    settings.HUBBUB_MAX_ID_LENGTH = limit
    assert ids() == []


# E002: ASGI_APPLICATION routes the hub

plain_django = ASGIHandler()
hub_in_front = with_hub(plain_django)
router_with_hub = ProtocolTypeRouter(
    {
        "http": AuthMiddlewareStack(URLRouter([*urlpatterns(), re_path(r"", plain_django)])),
        "websocket": AuthMiddlewareStack(URLRouter([])),
    }
)
router_without_hub = ProtocolTypeRouter({"http": URLRouter([re_path(r"", plain_django)])})
websocket_only = ProtocolTypeRouter({"websocket": URLRouter([])})


async def unknown_application(scope, receive, send):
    """An application the check cannot look into (it says nothing about those)."""


@pytest.mark.parametrize(
    "name", ["hub_in_front", "router_with_hub", "unknown_application", "example.asgi.application", None]
)
def test_an_asgi_application_that_routes_the_hub_passes(settings, name):
    if name is None:
        del settings.ASGI_APPLICATION  # runserver and serve then put the hub in front of Django's
    else:
        settings.ASGI_APPLICATION = name if "." in name else f"{__name__}.{name}"
    assert ids() == []


@pytest.mark.parametrize("name", ["plain_django", "router_without_hub", "websocket_only"])
def test_an_asgi_application_that_does_not_route_the_hub_is_an_error(settings, name):
    settings.ASGI_APPLICATION = f"{__name__}.{name}"
    [message] = messages()
    assert message.id == "hubbub.E002"
    assert "does not route /.well-known/mercure to the hub" in message.msg
    assert "with_hub" in message.hint and "urlpatterns()" in message.hint


@pytest.mark.parametrize("name", ["no_such_module.application", f"{__name__}.no_such_application"])
def test_an_asgi_application_that_does_not_import_is_an_error(settings, name):
    settings.ASGI_APPLICATION = name
    [message] = messages()
    assert message.id == "hubbub.E002"
    assert "cannot be imported" in message.msg


# E003, E004: several workers on a layer or a database that stay in one process


def test_several_workers_on_the_in_memory_layer_and_sqlite_are_errors():
    assert [message.id for message in _checks.check_workers(2)] == ["hubbub.E003", "hubbub.E004"]
    for message in _checks.check_workers(2):
        assert_clear(message)


def test_one_worker_on_the_in_memory_layer_and_sqlite_passes():
    assert _checks.check_workers(1) == []


def test_several_workers_on_redis_pass_the_layer_check(settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": ["redis://x"]}}
    }
    assert [message.id for message in _checks.check_workers(4)] == ["hubbub.E004"]


class HistoryOnPostgres:
    def db_for_write(self, model, **hints):
        return "postgres"


def test_several_workers_on_postgresql_pass_the_database_check(settings):
    settings.DATABASE_ROUTERS = [f"{__name__}.HistoryOnPostgres"]
    assert [message.id for message in _checks.check_workers(4)] == ["hubbub.E003"]


def test_web_concurrency_is_checked_with_the_deployment_checks(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert ids(deploy=True) == ["hubbub.E003", "hubbub.E004"]
    assert ids() == []  # only with --deploy: it is how the servers of a deployment are started
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    assert ids(deploy=True) == []


def test_serve_refuses_several_workers_on_the_in_memory_layer_and_sqlite():
    with pytest.raises(CommandError) as raised:
        call_command("serve", "--workers", "2")
    assert "hubbub.E003" in str(raised.value) and "hubbub.E004" in str(raised.value)


# E005: CORS


def test_any_origin_with_credentials_is_an_error(settings):
    settings.HUBBUB_CORS_ALLOWED_ORIGINS = ["https://app.example.com", "*"]
    assert ids() == ["hubbub.E005"]


def test_listed_origins_pass(settings):
    settings.HUBBUB_CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    assert ids() == []


# E006: keys


@pytest.mark.parametrize("name", ["HUBBUB_PUBLISHER_JWT_KEY", "HUBBUB_SUBSCRIBER_JWT_KEY"])
def test_a_key_shorter_than_32_bytes_is_an_error(settings, name):
    setattr(settings, name, "s" * 31)
    [message] = messages()
    assert message.id == "hubbub.E006"
    assert message.msg.startswith(f"{name} is 31 bytes long")


@pytest.mark.parametrize("value", ["k" * 32, None, "derived"])
def test_long_disabled_and_derived_keys_pass(settings, value):
    for name in ("HUBBUB_PUBLISHER_JWT_KEY", "HUBBUB_SUBSCRIBER_JWT_KEY"):
        if value == "derived":
            delattr(settings, name)
        else:
            setattr(settings, name, value)
    assert ids() == []


# E007: authorizers

NOT_CALLABLE = "a string"


def grant_nothing(user, selectors):
    return []


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("no_such_module.authorize", "cannot be imported"),
        (f"{__name__}.no_such_function", "cannot be imported"),
        (f"{__name__}.NOT_CALLABLE", "not a callable"),
    ],
)
def test_an_authorizer_that_does_not_import_or_call_is_an_error(settings, path, problem):
    settings.HUBBUB_AUTHORIZERS = [path]
    [message] = messages()
    assert message.id == "hubbub.E007"
    assert f"The authorizer '{path}' in HUBBUB_AUTHORIZERS" in message.msg and problem in message.msg


def test_an_apps_authorizer_that_does_not_import_is_an_error_naming_the_app(monkeypatch):
    monkeypatch.setattr(apps.get_app_config("hubbub"), "hubbub_authorizers", ["no_such_module.f"], raising=False)
    [message] = messages()
    assert message.id == "hubbub.E007"
    assert "HubbubConfig.hubbub_authorizers (app 'hubbub')" in message.msg


def test_importable_authorizers_pass(settings):
    settings.HUBBUB_AUTHORIZERS = [f"{__name__}.grant_nothing"]
    assert ids() == []


# E008: the channel layer


def test_a_channel_layer_setting_naming_an_undefined_layer_is_an_error(settings):
    settings.HUBBUB_CHANNEL_LAYER = "hub"
    [message] = messages()
    assert message.id == "hubbub.E008"
    assert message.msg == "HUBBUB_CHANNEL_LAYER names the channel layer 'hub', which CHANNEL_LAYERS does not define."


def test_channel_layers_without_the_hubs_is_an_error(settings):
    settings.CHANNEL_LAYERS = {"chat": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    [message] = messages()
    assert message.id == "hubbub.E008"
    assert "'chat'" in message.hint


def test_a_defined_channel_layer_passes(settings):
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS, "hub": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.HUBBUB_CHANNEL_LAYER = "hub"
    assert ids() == []


def test_no_channel_layers_at_all_passes(settings):
    del settings.CHANNEL_LAYERS  # the hub uses an in-memory layer of its own
    assert ids() == []


# E009: HUBBUB_TOKEN_ISSUERS

PUBLIC_KEY = (
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
ISSUER = "https://auth.example.com"


@pytest.mark.parametrize(
    "issuers",
    [
        {},
        {ISSUER: {"keys": [PUBLIC_KEY], "algorithms": ["ES256"]}},
        {ISSUER: {"jwks_url": "https://auth.example.com/jwks.json"}},
        {ISSUER: {"keys": [{"kid": "2025", "key": "s" * 32}, "t" * 32], "jwks_url": "http://127.0.0.1/jwks"}},
    ],
)
def test_well_formed_issuers_pass(settings, issuers):
    settings.HUBBUB_TOKEN_ISSUERS = issuers
    assert ids() == []


@pytest.mark.parametrize(
    "issuers, problem",
    [
        ([ISSUER], "HUBBUB_TOKEN_ISSUERS is 'list', not a dict"),
        ({ISSUER: ["key"]}, "is 'list', not a dict"),
        ({"": {"keys": ["s" * 32]}}, "is not a non-empty string"),
        ({ISSUER: {}}, "has neither keys nor a jwks_url"),
        ({ISSUER: {"keys": "s" * 32}}, "must be a list of strings"),
        ({ISSUER: {"keys": [{"id": "1", "key": "s" * 32}]}}, "must be a list of strings"),
        ({ISSUER: {"keys": [""]}}, "must be a list of strings"),
        ({ISSUER: {"jwks_url": "file:///etc/keys.json"}}, "must be an http(s) URL"),
        ({ISSUER: {"keys": ["s" * 32], "algorithms": []}}, "must be a non-empty list"),
        ({ISSUER: {"keys": ["s" * 32], "algorithms": ["none"]}}, "unknown algorithms ['none']"),
        ({ISSUER: {"keys": ["s" * 32], "algorithms": ["RS1"]}}, "unknown algorithms ['RS1']"),
        ({ISSUER: {"keys": ["s" * 32], "audience": "x"}}, "unknown entry 'audience'"),
        ({ISSUER: {"keys": ["-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----"]}}, "not a PEM public"),
        ({"hubbub": {"keys": ["s" * 32]}}, "lists the hub's own issuer 'hubbub'"),
    ],
)
def test_malformed_issuers_are_an_error(settings, issuers, problem):
    settings.HUBBUB_TOKEN_ISSUERS = issuers
    [message] = messages()
    assert message.id == "hubbub.E009"
    assert problem in message.msg


def test_a_short_issuer_secret_is_an_error(settings):
    settings.HUBBUB_TOKEN_ISSUERS = {ISSUER: {"keys": [PUBLIC_KEY, {"kid": "a", "key": "s" * 31}]}}
    [message] = messages()
    assert message.id == "hubbub.E006"
    assert message.msg.startswith(f"Key 2 of the issuer {ISSUER!r} in HUBBUB_TOKEN_ISSUERS is 31 bytes long")


# E010: cryptography


@pytest.mark.parametrize(
    "setting, value",
    [
        ("HUBBUB_TOKEN_ISSUERS", {ISSUER: {"keys": [PUBLIC_KEY]}}),
        ("HUBBUB_TOKEN_ISSUERS", {ISSUER: {"jwks_url": "https://auth.example.com/jwks.json"}}),
        ("HUBBUB_TOKEN_ISSUERS", {ISSUER: {"keys": ["s" * 32], "algorithms": ["HS256", "EdDSA"]}}),
        ("HUBBUB_JWT_ALGORITHMS", ["HS256", "RS256"]),
    ],
)
def test_asymmetric_algorithms_without_cryptography_are_an_error(settings, monkeypatch, setting, value):
    setattr(settings, setting, value)
    assert ids() == []  # cryptography is installed here
    monkeypatch.setattr(jwt.algorithms, "has_crypto", False)
    [message] = messages()
    assert message.id == "hubbub.E010"
    assert "pip install 'hubbub[crypto]'" in message.hint


def test_hmac_issuers_need_no_cryptography(settings, monkeypatch):
    monkeypatch.setattr(jwt.algorithms, "has_crypto", False)
    settings.HUBBUB_TOKEN_ISSUERS = {ISSUER: {"keys": ["s" * 32]}}
    assert ids() == []


# W001: runserver


def test_runserver_of_staticfiles_is_a_warning(settings):
    installed = [app for app in settings.INSTALLED_APPS if app != "hubbub"]
    installed.insert(installed.index("django.contrib.staticfiles") + 1, "hubbub")
    settings.INSTALLED_APPS = installed
    [message] = messages()
    assert (message.id, message.level) == ("hubbub.W001", checks.WARNING)
    assert "'django.contrib.staticfiles'" in message.msg
    assert "before 'django.contrib.staticfiles'" in message.hint


def test_runserver_of_daphne_passes_with_an_asgi_application(settings, monkeypatch):
    monkeypatch.setattr(_checks, "get_commands", lambda: {"runserver": "daphne"})
    assert ids() == []
    del settings.ASGI_APPLICATION  # then daphne's runserver has nothing to serve the hub with
    assert ids() == ["hubbub.W001"]


def test_the_hubs_runserver_passes():
    assert "hubbub.W001" not in ids()


# W002: no Redis database number to tell deployments apart by

SENTINEL_LAYER = {
    "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "CONFIG": {"hosts": [{"master_name": "mymaster", "sentinels": [("127.0.0.1", 26379)]}]},
}


def test_a_redis_layer_without_a_readable_database_number_is_a_warning(settings):
    settings.CHANNEL_LAYERS = {"default": SENTINEL_LAYER}
    [message] = messages()
    assert message.id == "hubbub.W002"
    assert "HUBBUB_REDIS_PREFIX" in message.hint


def test_a_named_deployment_passes(settings):
    settings.CHANNEL_LAYERS = {"default": SENTINEL_LAYER}
    settings.HUBBUB_REDIS_PREFIX = "shop-production"
    assert ids() == []


@pytest.mark.parametrize(
    "hosts", [["redis://127.0.0.1:6379/3"], [{"address": "redis://127.0.0.1:6379", "db": 2}], [("127.0.0.1", 6379)]]
)
def test_a_redis_layer_with_hosts_passes(settings, hosts):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": hosts}}
    }
    assert ids() == []
