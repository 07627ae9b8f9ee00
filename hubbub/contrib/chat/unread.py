"""Unread messages: how far each user has read each room (``ReadMarker``), and what is left.

A room's unread count for a user is the number of messages others posted there after the
newest one the user has seen (deleted ones left out). Only rooms the user has viewed have a
marker, and so a count: a public room never opened is not "unread".

Each state carries ``newest``, the newest message id it counted up to, and ``at``, the time
before it was read: a page adds to it the messages that arrive with a higher id, and takes a
state with a later ``at`` over the one it has (so replays never bring back an older count).
Marking a room read sends the new state to the user's own topic: all their pages follow.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, Q
from django.utils import timezone

from . import events, ratelimit
from .models import Message, ReadMarker, Room


def states(user: Any, rooms: list[Room]) -> dict[int, dict[str, Any]]:
    """Per room among ``rooms`` that ``user`` has a marker for: ``last_read``, ``unread``, ``newest`` and ``at``."""
    at = events.now_ms()  # before reading
    markers = dict(
        ReadMarker.objects.filter(user=user, room__in=[room.pk for room in rooms]).values_list("room_id", "last_read")
    )
    if not markers:
        return {}
    counted = Q()
    for room_id, last_read in markers.items():
        counted |= Q(room_id=room_id, id__gt=last_read)
    visible = Message.objects.visible().filter(room_id__in=markers)
    newest = dict(visible.values("room_id").annotate(newest=Max("id")).values_list("room_id", "newest"))
    unread = dict(
        visible.filter(counted)
        .exclude(author=user)
        .values("room_id")
        .annotate(unread=Count("id"))
        .values_list("room_id", "unread")
    )
    return {
        room_id: {
            "last_read": last_read,
            "unread": unread.get(room_id, 0),
            "newest": max(newest.get(room_id) or 0, last_read),
            "at": at,
        }
        for room_id, last_read in markers.items()
    }


def state(user: Any, room: Room) -> dict[str, Any] | None:
    return states(user, [room]).get(room.pk)


def last_read(user: Any, room: Room) -> int | None:
    """The id of the newest message of ``room`` that ``user`` had seen, or None if they never viewed it."""
    return ReadMarker.objects.filter(user=user, room=room).values_list("last_read", flat=True).first()


def mark_read(user: Any, room: Room, upto: int) -> dict[str, Any]:
    """Move the user's marker of ``room`` forward to ``upto`` (no further than the room's newest
    message; never back), made if need be, and send the room's new state to the user's own
    topic; the state. A marker that would not move is left, and nothing is sent or counted.
    Raises ``ratelimit.Exceeded`` over ``CHAT_READ_RATE_LIMIT``, ``ratelimit.Unavailable``."""
    newest = room.messages.aggregate(newest=Max("id"))["newest"] or 0
    upto = min(upto, newest)
    before = last_read(user, room)
    if before is not None and before >= upto:
        return states(user, [room])[room.pk]
    ratelimit.limit("CHAT_READ_RATE_LIMIT", f"{user.pk}:{room.pk}")
    marker, created = ReadMarker.objects.get_or_create(user=user, room=room, defaults={"last_read": upto})
    if not created:
        ReadMarker.objects.filter(pk=marker.pk, last_read__lt=upto).update(last_read=upto, updated=timezone.now())
    current = states(user, [room])[room.pk]
    events.read(user, room, current)
    return current
