"""Chat settings with their defaults: every ``CHAT_*`` setting is read here and nowhere else."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # The room the lobby sends people to (created by a data migration).
    "CHAT_DEFAULT_ROOM": "general",
    # Longest message, in characters; a longer one is refused with 413.
    "CHAT_MAX_MESSAGE_LENGTH": 2000,
    # Messages per page of history (the chat page renders the newest page).
    "CHAT_PAGE_SIZE": 50,
    # At most this many messages per user per window of this many seconds.
    "CHAT_RATE_LIMIT": (10, 10),
    # A page that has not said it is open for this many seconds has left.
    "CHAT_PRESENCE_TIMEOUT": 70,
    # Typing notices published per user and room: at most this many per window of this
    # many seconds (pages send one every few seconds while typing, and one after each send).
    "CHAT_TYPING_RATE_LIMIT": (5, 10),
}


def get(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])
