"""Who may read what: topics granted by a subscriber's token and by the project's hooks.

A hook is a callable ``(user, selectors) -> iterable of selectors`` named in
``HUBBUB_AUTHORIZERS``, or in the ``hubbub_authorizers`` attribute of an installed app's
``AppConfig`` (so that adding an app such as ``hubbub.contrib.notifications`` to
``INSTALLED_APPS`` is enough to authorize its topics). It is called once per connection, for a signed-in Django user,
with the selectors the subscriber asked for, and returns the selectors (or topics) whose
private updates that user may receive, e.g. the user's own notification topic.

As the hooks are asked once per connection, a project that takes something away from a
user (a member leaves a private room) calls ``hubbub.reauthorize(user)``: every stream that
user's session opened, on every worker, is closed, reconnects, and is authorized anew.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from functools import cache
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AnonymousUser
from django.utils.module_loading import import_string

from . import _conf as conf, _fanout as fanout, _layers as layers, _links as links, _publishing as publishing
from ._selectors import NOTHING, SelectorSet
from .exceptions import LayerUnavailable

logger = logging.getLogger(__name__)

# The user is an instance of the project's own user model (AUTH_USER_MODEL), hence Any: a
# hook may annotate it with that class, e.g. ``def rooms(user: User, selectors: list[str])``.
Authorizer = Callable[[Any, list[str]], Iterable[str]]


@cache
def _authorizers(paths: tuple[str, ...]) -> tuple[Authorizer, ...]:
    return tuple(import_string(path) for path in paths)


def authorizer_paths() -> tuple[str, ...]:
    """The dotted paths of the hooks: the installed apps' (in ``INSTALLED_APPS`` order), then
    ``HUBBUB_AUTHORIZERS``, each once."""
    paths = [path for config in apps.get_app_configs() for path in getattr(config, "hubbub_authorizers", ())]
    return tuple(dict.fromkeys([*paths, *conf.get("HUBBUB_AUTHORIZERS")]))


def authorizers() -> tuple[Authorizer, ...]:
    return _authorizers(authorizer_paths())


def user_from_cookies(cookies: dict[str, str]) -> object:
    """The Django user whose session cookie came with the request (sync: reads the session)."""
    session_key = cookies.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return AnonymousUser()
    engine = import_module(settings.SESSION_ENGINE)  # a module: import_string needs it imported already
    return get_user(SimpleNamespace(session=engine.SessionStore(session_key)))  # type: ignore[arg-type]


def user_key(user: object) -> str:
    """How the hub names a user across processes: the primary key, as text."""
    pk = getattr(user, "pk", user)
    if pk is None:
        raise ValueError("a user that is not saved has no key")
    return str(pk)


def granted_to_user(user: object, selectors: list[str]) -> SelectorSet:
    if not getattr(user, "is_authenticated", False):
        return NOTHING
    granted: list[str] = []
    for authorize in authorizers():
        granted.extend(authorize(user, selectors))
    return SelectorSet(granted)


def reauthorize(user: object, *, using: str | None = None) -> None:
    """Close every stream ``user``'s session opened, on every worker, once the current
    transaction (on ``using``) commits: each reconnects, is authorized anew with what the
    hooks grant then, and resumes from its last id. Call it after taking a grant away.

    Sync code only; async code uses ``areauthorize``. In the embedded setup (the in-memory
    layer), called from a process that serves no subscribers (a management command), it
    cannot reach the server's streams and logs a warning.
    """
    publishing.refuse_async_caller("reauthorize", "areauthorize")
    key = user_key(user)

    def close() -> None:
        loop = publishing.layer_loop()
        if loop is None:
            logger.warning(
                "hubbub: no subscriber of this process to reauthorize, and the in-memory layer reaches no other"
            )
            return
        asyncio.run_coroutine_threadsafe(areauthorize(key), loop).result(timeout=30)

    publishing.after_commit(close, using=using)


async def areauthorize(user: object) -> None:
    """``reauthorize`` for async code, at once (there is no transaction to wait for).

    Raises ``LayerUnavailable`` if the channel layer cannot take the request.
    """
    message = {"type": fanout.REAUTHORIZE_TYPE, "user": user_key(user)}
    try:
        async with asyncio.timeout(links.SEND_TIMEOUT):
            await layers.channel_layer().group_send(fanout.control_group(), message)
    except Exception as error:
        raise LayerUnavailable(
            f"could not reauthorize user {message['user']}, the channel layer is unreachable: {error}"
        ) from error
