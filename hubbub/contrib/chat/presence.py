"""Who has a room open: each page says so on opening, every third of ``CHAT_PRESENCE_TIMEOUT``
(``heartbeat_ms``) while open, on being shown again, and on leaving.

A page silent for ``CHAT_PRESENCE_TIMEOUT`` seconds has left. The list of names is
published to the room when it changes, so nothing polls: departures without a goodbye
are noticed by the next page that checks in.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import conf, events
from .models import Presence, Room


def heartbeat_ms() -> int:
    """How often a page says it is open: three times per timeout, so one lost report is not a departure."""
    return max(1000, int(conf.get("CHAT_PRESENCE_TIMEOUT") * 1000 / 3))


def present_users(room: Room) -> list[str]:
    """Names of the users with the room open now, sorted case-insensitively."""
    cutoff = timezone.now() - timedelta(seconds=conf.get("CHAT_PRESENCE_TIMEOUT"))
    return _names(Presence.objects.filter(room=room, last_seen__gte=cutoff))


def _names(presences: object) -> list[str]:
    names = set(presences.values_list("user__username", flat=True))  # type: ignore[attr-defined]
    return sorted(names, key=str.lower)


def update(room: Room, user: Any, client: str, *, open: bool) -> list[str]:
    """Record that ``client`` (one page of ``user``) is open or gone; publish the list if it changed."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=conf.get("CHAT_PRESENCE_TIMEOUT"))
    with transaction.atomic():
        entries = Presence.objects.filter(room=room)
        before = _names(entries)
        entries.filter(last_seen__lt=cutoff).delete()
        if open:
            Presence.objects.update_or_create(room=room, user=user, client=client, defaults={"last_seen": now})
        else:
            entries.filter(user=user, client=client).delete()
        after = _names(entries)
        if after != before:
            events.presence_changed(room, after, int(now.timestamp() * 1000))
    return after
