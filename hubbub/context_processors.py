"""Template context for pages that subscribe to the hub: its URL and the current position."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from . import _history as history


def hub(request: HttpRequest) -> dict[str, object]:
    """``hub_last_event_id`` is read only if a template uses it; a view that must take the
    position before it queries its own data passes ``hub_last_event_id`` itself."""
    return {
        "hub_url": "/.well-known/mercure",
        "hub_last_event_id": SimpleLazyObject(lambda: history.last_id() or history.EARLIEST),
    }
