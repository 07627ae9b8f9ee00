"""Chat settings with their defaults: every ``CHAT_*`` setting is read here and nowhere else."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # The room the lobby sends people to (created by a data migration).
    "CHAT_DEFAULT_ROOM": "general",
    # Longest message, in characters; a longer one is refused with 413.
    "CHAT_MAX_MESSAGE_LENGTH": 2000,
    # Largest attached file, in bytes; a larger one is refused with 413.
    "CHAT_MAX_UPLOAD_BYTES": 10 * 1024 * 1024,
    # The storage (an alias of Django's STORAGES) attachments and their thumbnails are kept in.
    # They are served only through the chat's views, to those who may read the room: never
    # give it a public URL (MEDIA_URL served as is) for private rooms' files.
    "CHAT_ATTACHMENT_STORAGE": "default",
    # Messages per page of history (the chat page renders the newest page).
    "CHAT_PAGE_SIZE": 50,
    # At most this many messages per user per window of this many seconds.
    "CHAT_RATE_LIMIT": (10, 10),
    # A page that has not said it is open for this many seconds has left. Pages say so every
    # third of it (10 s by default), so a page killed without a goodbye is gone within about
    # this plus the next check-in of another page (a browser throttling a tab hidden for
    # minutes to a timer a minute drops it from the list until it is shown again).
    "CHAT_PRESENCE_TIMEOUT": 30,
    # Typing notices published per user and room: at most this many per window of this
    # many seconds (pages send one every few seconds while typing, and one after each send).
    "CHAT_TYPING_RATE_LIMIT": (5, 10),
    # Sign-in attempts: at most this many per window of this many seconds from one address, and
    # as many for one account name (whatever the address); then 429 until the window ends.
    "CHAT_SIGNIN_RATE_LIMIT": (10, 300),
    # Guest accounts made by the lobby: at most this many per window of this many seconds from
    # one address (people behind one NAT share it: keep it generous).
    "CHAT_SIGNUP_RATE_LIMIT": (20, 60),
    # Presence reports (a page says it is open on opening, every third of CHAT_PRESENCE_TIMEOUT,
    # when shown again, and closed on leaving) per user and room: at most this many per window of
    # this many seconds (a few tabs' worth). Each change of who is here is published to every
    # page of the room, so toggling it is bounded by this.
    "CHAT_PRESENCE_RATE_LIMIT": (30, 60),
    # Read markers moved forward (a page marks its room read when it is shown and as messages
    # arrive while it is) per user and room: at most this many per window of this many seconds.
    "CHAT_READ_RATE_LIMIT": (60, 60),
}


def get(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])
