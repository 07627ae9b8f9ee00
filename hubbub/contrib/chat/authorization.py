"""The hub's authorization hook for chat: which chat topics a signed-in user may read."""

from __future__ import annotations

from collections.abc import Iterable

import hubbub

from .models import Room
from .topics import ROOMS, room_topic, slug_from_topic, user_topic


def room_topics(user: object, selectors: list[str]) -> Iterable[str]:
    """Among the topics the selectors ask for: the topics of the rooms the user may read,
    the room directory (for anyone signed in) and the user's own chat topic (for them alone).

    Exact room topics are looked up by slug; a wildcard or URI template selector is
    matched against the topics of every room the user may read.
    """
    if not getattr(user, "is_authenticated", False):
        return []
    requested = hubbub.SelectorSet(selectors)
    granted = [topic for topic in (ROOMS, user_topic(user)) if requested.match(topic)]
    rooms = Room.objects.readable_by(user)
    if not requested.needs_every_topic:
        slugs = {slug for topic in requested.exact if (slug := slug_from_topic(topic))}
        if not slugs:
            return granted
        rooms = rooms.filter(slug__in=slugs)
    topics = (room_topic(slug) for slug in rooms.values_list("slug", flat=True))
    return granted + [topic for topic in topics if requested.match(topic)]
