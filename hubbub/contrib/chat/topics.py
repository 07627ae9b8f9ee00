"""The chat's hub topics: each room's, the room directory, and each user's. The one place that names them."""

from __future__ import annotations

PREFIX = "/chat/rooms/"
# The directory of public rooms: new rooms are announced here.
ROOMS = "/chat/rooms"
# Each user's own chat topic: the private rooms they join (or leave) are announced there.
USERS_PREFIX = "/chat/users/"


def room_topic(slug: str) -> str:
    return f"{PREFIX}{slug}"


def slug_from_topic(topic: str) -> str | None:
    """The room slug an exact room topic names, or None for any other topic."""
    if topic.startswith(PREFIX):
        slug = topic[len(PREFIX) :]
        if slug and "/" not in slug:
            return slug
    return None


def user_topic(user_or_pk: object) -> str:
    """``/chat/users/<pk>``: private updates to it reach only that user's pages."""
    pk = getattr(user_or_pk, "pk", user_or_pk)
    if pk is None:
        raise ValueError("a user's chat topic needs a saved user")
    return f"{USERS_PREFIX}{pk}"
