"""Who may read what: topics granted by a subscriber's token and by the project's hooks.

A hook is a callable ``(user, selectors) -> iterable of selectors`` named in
``HUBBUB_AUTHORIZERS``. It is called once per connection, for a signed-in Django user,
with the selectors the subscriber asked for, and returns the selectors (or topics) whose
private updates that user may receive, e.g. the user's own notification topic.
"""

from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace
from typing import Callable, Iterable

from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AnonymousUser
from django.utils.module_loading import import_string

from . import conf
from .selectors import SelectorSet

Authorizer = Callable[[object, list[str]], Iterable[str]]


@lru_cache(maxsize=None)
def _authorizers(paths: tuple[str, ...]) -> tuple[Authorizer, ...]:
    return tuple(import_string(path) for path in paths)


def authorizers() -> tuple[Authorizer, ...]:
    return _authorizers(tuple(conf.get("HUBBUB_AUTHORIZERS")))


def user_from_cookies(cookies: dict[str, str]) -> object:
    """The Django user whose session cookie came with the request (sync: reads the session)."""
    session_key = cookies.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return AnonymousUser()
    engine = import_string(settings.SESSION_ENGINE)
    return get_user(SimpleNamespace(session=engine.SessionStore(session_key)))  # type: ignore[arg-type]


def granted_to_user(user: object, selectors: list[str]) -> SelectorSet:
    if not getattr(user, "is_authenticated", False):
        return SelectorSet()
    granted: list[str] = []
    for authorize in authorizers():
        granted.extend(authorize(user, selectors))
    return SelectorSet(granted)
