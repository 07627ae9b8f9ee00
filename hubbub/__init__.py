"""Hubbub: a Mercure hub for Django.

``hubbub.publish(...)`` from sync code, ``await hubbub.apublish(...)`` from async code;
``hubbub.last_event_id()`` is the newest stored update's id, for a page to resume from;
``hubbub.reauthorize(user)`` (``areauthorize``) closes the streams a user's session opened,
so that they reconnect with what the user may read now.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "publish",
    "apublish",
    "last_event_id",
    "reauthorize",
    "areauthorize",
    "Update",
    "HubbubError",
    "InvalidUpdate",
    "UpdateTooLarge",
    "FanoutUnavailable",
]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing hubbub does not import models before apps are ready.
    if name in ("publish", "apublish"):
        from . import publishing

        return getattr(publishing, name)
    if name in ("reauthorize", "areauthorize"):
        from . import authorization

        return getattr(authorization, name)
    if name == "last_event_id":
        from .history import last_id

        return last_id
    if name == "Update":
        from .updates import Update

        return Update
    if name in ("HubbubError", "InvalidUpdate", "UpdateTooLarge", "FanoutUnavailable"):
        from . import exceptions

        return getattr(exceptions, name)
    raise AttributeError(f"module 'hubbub' has no attribute {name!r}")
