"""The hub topic of each room: the one place that names them."""

from __future__ import annotations

PREFIX = "/chat/rooms/"
# The directory of public rooms: new rooms are announced here.
ROOMS = "/chat/rooms"


def room_topic(slug: str) -> str:
    return f"{PREFIX}{slug}"


def slug_from_topic(topic: str) -> str | None:
    """The room slug an exact room topic names, or None for any other topic."""
    if topic.startswith(PREFIX):
        slug = topic[len(PREFIX) :]
        if slug and "/" not in slug:
            return slug
    return None
