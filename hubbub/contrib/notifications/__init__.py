"""Per-user live notifications on top of the hub.

``notifications.notify(recipient, title, body="", url="", level="info")`` from sync code,
``await notifications.anotify(...)`` from async code (see ``notifications.sending``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["notify", "anotify", "InvalidNotification"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing notifications does not import models before apps are ready.
    if name in __all__:
        from . import sending

        return getattr(sending, name)
    raise AttributeError(f"module 'notifications' has no attribute {name!r}")
