"""System checks: settings the hub cannot honour are reported at start-up, not on a publish.

| id | what |
|---|---|
| ``hubbub.E001`` | ``HUBBUB_MAX_ID_LENGTH`` outside what the history can store |
| ``hubbub.E002`` | ``ASGI_APPLICATION`` does not import, or does not route the hub |
| ``hubbub.E003`` | several worker processes on a channel layer that stays in one process |
| ``hubbub.E004`` | several worker processes on SQLite |
| ``hubbub.E005`` | ``*`` in ``HUBBUB_CORS_ALLOWED_ORIGINS`` (the hub sends credentials) |
| ``hubbub.E006`` | a JWT key shorter than 32 bytes |
| ``hubbub.E007`` | an entry of ``HUBBUB_AUTHORIZERS`` that does not import or is not callable |
| ``hubbub.E008`` | ``HUBBUB_CHANNEL_LAYER`` names a layer ``CHANNEL_LAYERS`` does not define |
| ``hubbub.E009`` | a malformed ``HUBBUB_TOKEN_ISSUERS`` |
| ``hubbub.E010`` | asymmetric token algorithms (RS256, ES256, EdDSA...) without ``cryptography`` installed |
| ``hubbub.W001`` | ``runserver`` is not the hub's (``hubbub`` listed after ``django.contrib.staticfiles``) |
| ``hubbub.W002`` | no ``HUBBUB_REDIS_PREFIX``, and no Redis database number to derive it from |
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.core.management import get_commands
from django.db import connections, router
from django.utils.module_loading import import_string
from jwt import algorithms as jwt_algorithms

from . import _conf as conf, _layers as layers, _tokens as tokens
from ._updates import MAX_ID_LENGTH
from .asgi import MERCURE_PATH
from .models import StoredUpdate

MIN_KEY_BYTES = 32


@register()
def check_id_length(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    limit = conf.get("HUBBUB_MAX_ID_LENGTH")
    if isinstance(limit, int) and 0 < limit <= MAX_ID_LENGTH:
        return []
    return [
        Error(
            f"HUBBUB_MAX_ID_LENGTH is {limit!r}; it must be a whole number from 1 to {MAX_ID_LENGTH}.",
            hint=f"The update history stores ids in a column of {MAX_ID_LENGTH} characters.",
            id="hubbub.E001",
        )
    ]


def _routes_hub(application: object, seen: set[int] | None = None) -> bool | None:
    """Whether ``application`` sends ``/.well-known/mercure`` to the hub: True or False when
    it can tell (the hub's own wrapper, Channels' routers and middleware), None when not."""
    from channels.routing import ProtocolTypeRouter, URLRouter

    from ._endpoint import MercureEndpoint
    from .asgi import HubApplication

    seen = set() if seen is None else seen
    if id(application) in seen:
        return False
    seen.add(id(application))
    if isinstance(application, (HubApplication, MercureEndpoint)):
        return True
    if isinstance(application, ProtocolTypeRouter):
        http = application.application_mapping.get("http")
        return False if http is None else _routes_hub(http, seen)
    if isinstance(application, URLRouter):
        answers = [_routes_hub(route.callback, seen) for route in application.routes]
        return True if True in answers else (None if None in answers else False)
    for attribute in ("inner", "application", "app"):  # Channels' middleware, Django's handlers
        inner = getattr(application, attribute, None)
        if inner is not None and inner is not application:
            return _routes_hub(inner, seen)
    from django.core.handlers.asgi import ASGIHandler

    if isinstance(application, ASGIHandler):
        return False
    return None


@register()
def check_asgi_application(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    name = getattr(settings, "ASGI_APPLICATION", None)
    if not name:
        return []  # runserver and serve then run Django's application with the hub in front
    hint = (
        "In the module ASGI_APPLICATION names: application = hubbub.asgi.with_hub(get_asgi_application()), "
        "or put *hubbub.asgi.urlpatterns() first in your ProtocolTypeRouter's HTTP URLRouter."
    )
    try:
        application = import_string(name)
    except Exception as error:  # any error importing the project's module is reported
        return [
            Error(
                f"ASGI_APPLICATION {name!r} cannot be imported: {error}.",
                hint="Fix the module, or remove ASGI_APPLICATION: runserver and serve then run Django's "
                "application with the hub in front.",
                id="hubbub.E002",
            )
        ]
    if _routes_hub(application) is False:
        return [
            Error(
                f"ASGI_APPLICATION {name!r} does not route {MERCURE_PATH} to the hub, so the hub answers 404.",
                hint=hint,
                id="hubbub.E002",
            )
        ]
    return []


def check_workers(workers: int) -> list[CheckMessage]:
    """What stops ``workers`` processes from serving one hub (``serve --workers`` runs this)."""
    if workers <= 1:
        return []
    messages: list[CheckMessage] = []
    if layers.is_local(layers.channel_layer()):
        messages.append(
            Error(
                f"{workers} worker processes would share a channel layer that reaches one process only, "
                "so a subscriber on one worker would miss what is published on another.",
                hint="Configure channels_redis' pub/sub layer in CHANNEL_LAYERS (pip install 'hubbub[redis]'), "
                "or run one worker.",
                id="hubbub.E003",
            )
        )
    if connections[router.db_for_write(StoredUpdate)].vendor == "sqlite":
        messages.append(
            Error(
                f"{workers} worker processes would share a SQLite database, which does not order their "
                "publishes together, so resuming with Last-Event-ID could skip or repeat updates.",
                hint="Use PostgreSQL (pip install 'hubbub[postgres]'), or run one worker.",
                id="hubbub.E004",
            )
        )
    return messages


@register(deploy=True)
def check_web_concurrency(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """ASGI servers (uvicorn, gunicorn) start ``WEB_CONCURRENCY`` workers when it is set."""
    value = os.environ.get("WEB_CONCURRENCY", "")
    return check_workers(int(value)) if value.isdigit() else []


@register()
def check_cors(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if "*" not in conf.get("HUBBUB_CORS_ALLOWED_ORIGINS"):
        return []
    return [
        Error(
            "HUBBUB_CORS_ALLOWED_ORIGINS contains '*': the hub answers cross-origin requests with credentials, "
            "so any web site could read the private updates of a visitor signed in to yours.",
            hint="List the origins that may subscribe or publish, e.g. ['https://app.example.com'].",
            id="hubbub.E005",
        )
    ]


@register()
def check_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    hint = "Use a long random value (python -c 'import secrets; print(secrets.token_urlsafe(48))')"
    messages: list[CheckMessage] = []
    for name in ("HUBBUB_PUBLISHER_JWT_KEY", "HUBBUB_SUBSCRIBER_JWT_KEY"):
        key = conf.get(name)
        if key is not None and len(str(key).encode()) < MIN_KEY_BYTES:
            messages.append(
                Error(
                    f"{name} is {len(str(key).encode())} bytes long; an HS256 key must have at least {MIN_KEY_BYTES}.",
                    hint=f"{hint}, or leave it unset to derive one from SECRET_KEY.",
                    id="hubbub.E006",
                )
            )
    for issuer, number, key in _issuer_keys():
        if not _is_pem(key) and len(key.encode()) < MIN_KEY_BYTES:
            messages.append(
                Error(
                    f"Key {number} of the issuer {issuer!r} in HUBBUB_TOKEN_ISSUERS is {len(key.encode())} bytes long; "
                    f"an HMAC secret must have at least {MIN_KEY_BYTES}.",
                    hint=f"{hint}, or give the issuer's PEM public key.",
                    id="hubbub.E006",
                )
            )
    return messages


def _is_pem(key: str) -> bool:
    return key.lstrip().startswith("-----BEGIN")


def _issuer_keys() -> Iterator[tuple[str, int, str]]:
    """Each key of each well-formed entry of HUBBUB_TOKEN_ISSUERS: its issuer, its number
    (from 1) and the key."""
    issuers = conf.get("HUBBUB_TOKEN_ISSUERS")
    if not isinstance(issuers, Mapping):
        return
    for name, entry in issuers.items():
        if tokens.issuer_problems(name, entry):
            continue
        for number, key in enumerate(entry.get("keys", []), start=1):
            yield name, number, key["key"] if isinstance(key, Mapping) else key


@register()
def check_token_issuers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    issuers = conf.get("HUBBUB_TOKEN_ISSUERS")
    hint = (
        "Each issuer maps to {'keys': [an HMAC secret or PEM public key, or {'kid': ..., 'key': ...}], "
        "'jwks_url': 'https://...', 'algorithms': ['EdDSA', 'ES256', 'RS256']}, with keys or a jwks_url or both."
    )
    if not isinstance(issuers, Mapping):
        return [
            Error(
                f"HUBBUB_TOKEN_ISSUERS is {type(issuers).__name__!r}, not a dict of trusted issuers.",
                hint=hint,
                id="hubbub.E009",
            )
        ]
    messages: list[CheckMessage] = []
    for name, entry in issuers.items():
        for problem in tokens.issuer_problems(name, entry):
            messages.append(Error(f"In HUBBUB_TOKEN_ISSUERS, {problem}.", hint=hint, id="hubbub.E009"))
    own = conf.get("HUBBUB_TOKEN_ISSUER")
    if own in issuers:
        messages.append(
            Error(
                f"HUBBUB_TOKEN_ISSUERS lists the hub's own issuer {own!r} (HUBBUB_TOKEN_ISSUER), whose keys are "
                "HUBBUB_PUBLISHER_JWT_KEY and HUBBUB_SUBSCRIBER_JWT_KEY.",
                hint="Remove that entry, or set HUBBUB_TOKEN_ISSUER to the identifier of the issuer those keys "
                "belong to.",
                id="hubbub.E009",
            )
        )
    if jwt_algorithms.has_crypto:
        for issuer, number, key in _issuer_keys():
            if _is_pem(key) and not _loads_public_key(key):
                messages.append(
                    Error(
                        f"Key {number} of the issuer {issuer!r} in HUBBUB_TOKEN_ISSUERS is not a PEM public key.",
                        hint="Give the issuer's public key as PEM text (-----BEGIN PUBLIC KEY-----...).",
                        id="hubbub.E009",
                    )
                )
    return messages


def _loads_public_key(key: str) -> bool:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        load_pem_public_key(key.encode())
    except (ValueError, TypeError):
        return False
    return True


@register()
def check_crypto(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if jwt_algorithms.has_crypto:
        return []
    needing: list[str] = sorted(set(conf.get("HUBBUB_JWT_ALGORITHMS")) & tokens.ASYMMETRIC_ALGORITHMS)
    where = ["HUBBUB_JWT_ALGORITHMS"] if needing else []
    issuers = conf.get("HUBBUB_TOKEN_ISSUERS")
    for name, entry in issuers.items() if isinstance(issuers, Mapping) else ():
        if tokens.issuer_problems(name, entry):
            continue
        listed = set(entry.get("algorithms", [])) & tokens.ASYMMETRIC_ALGORITHMS
        pem = any(_is_pem(key) for issuer, _, key in _issuer_keys() if issuer == name)
        if listed or pem or entry.get("jwks_url"):
            needing += sorted(listed) or ["RS256, ES256 or EdDSA"]
            where.append(f"the issuer {name!r}")
    if not where:
        return []
    return [
        Error(
            f"Public-key signatures ({', '.join(dict.fromkeys(needing))}) are configured for {' and '.join(where)}, "
            "but PyJWT verifies them only with the cryptography package installed.",
            hint="Install it: pip install 'hubbub[crypto]' (PyJWT[crypto]).",
            id="hubbub.E010",
        )
    ]


def _authorizer_sources() -> Iterator[tuple[str, str]]:
    """Each authorization hook's dotted path, with where it was named."""
    for config in apps.get_app_configs():
        for path in getattr(config, "hubbub_authorizers", ()):
            yield str(path), f"{type(config).__name__}.hubbub_authorizers (app {config.label!r})"
    for path in conf.get("HUBBUB_AUTHORIZERS"):
        yield str(path), "HUBBUB_AUTHORIZERS"


@register()
def check_authorizers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    seen: set[str] = set()
    hint = "Each authorizer is the dotted path of a function (user, selectors) -> iterable of selectors."
    for path, source in _authorizer_sources():
        if path in seen:
            continue
        seen.add(path)
        try:
            found = import_string(path)
        except Exception as error:  # an ImportError, or whatever the module raises on import
            problem = f"cannot be imported: {error}"
        else:
            if callable(found):
                continue
            problem = f"is {type(found).__name__!r}, not a callable"
        messages.append(Error(f"The authorizer {path!r} in {source} {problem}.", hint=hint, id="hubbub.E007"))
    return messages


@register()
def check_channel_layer(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    alias = conf.get("HUBBUB_CHANNEL_LAYER")
    defined = getattr(settings, "CHANNEL_LAYERS", None) or {}
    if alias in defined or not (defined or conf.is_set("HUBBUB_CHANNEL_LAYER")):
        return []  # the configured layer, or (no CHANNEL_LAYERS at all) the hub's own in-memory one
    named = "HUBBUB_CHANNEL_LAYER names" if conf.is_set("HUBBUB_CHANNEL_LAYER") else "The hub uses"
    return [
        Error(
            f"{named} the channel layer {alias!r}, which CHANNEL_LAYERS does not define.",
            hint=f"Define {alias!r} in CHANNEL_LAYERS, or set HUBBUB_CHANNEL_LAYER to one of {sorted(defined)}"
            " (without CHANNEL_LAYERS at all, the hub uses an in-memory layer of its own).",
            id="hubbub.E008",
        )
    ]


@register()
def check_runserver(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    owner = get_commands().get("runserver")
    if owner == "hubbub" or (owner == "daphne" and getattr(settings, "ASGI_APPLICATION", None)):
        return []  # daphne's runserver runs ASGI_APPLICATION, which check E002 makes sure routes the hub
    return [
        Warning(
            f"The runserver command comes from {owner!r}, not from hubbub, so under it {MERCURE_PATH} answers 404.",
            hint="List 'hubbub' before 'django.contrib.staticfiles' (and before 'daphne') in INSTALLED_APPS.",
            id="hubbub.W001",
        )
    ]


@register()
def check_redis_prefix(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    alias = conf.get("HUBBUB_CHANNEL_LAYER")
    if conf.is_set("HUBBUB_REDIS_PREFIX") or alias not in (getattr(settings, "CHANNEL_LAYERS", None) or {}):
        return []
    if layers.is_local(layers.channel_layer()) or layers.redis_databases() is not None:
        return []
    return [
        Warning(
            f"The hub cannot read a Redis database number from the channel layer {alias!r}: deployments "
            "that share its server are told apart only by their history database.",
            hint="Set HUBBUB_REDIS_PREFIX to a name of this deployment's own (the same in all its workers).",
            id="hubbub.W002",
        )
    ]
