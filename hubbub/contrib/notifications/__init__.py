"""Per-user live notifications on top of the hub.

``notify(recipient, title, body="", url="", level="info")`` from sync code,
``await anotify(...)`` from async code (see ``hubbub.contrib.notifications.sending``)::

    from hubbub.contrib.notifications import notify

    notify(user, "Your export is ready", url="/exports/42/")

Pages: ``include("hubbub.contrib.notifications.urls")`` (URL namespace ``notifications``)
serves ``/notifications/`` and ``/api/notifications/``; the bell goes in the project's base
template with ``{% load hubbub_notifications %}{% notification_bell %}``. The pages extend
``HUBBUB_BASE_TEMPLATE`` (see ``hubbub.contrib.pages``). Works without
``hubbub.contrib.chat``; with it, ``@name`` mentions and room additions notify.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sending import InvalidNotification, anotify, notify

__all__ = ["notify", "anotify", "InvalidNotification"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the package does not import models before apps are ready.
    if name in __all__:
        from . import sending

        return getattr(sending, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
