"""Reactions: anyone who may read a room toggles one of a few emoji (``Reaction.EMOJI``) on its
messages; every page of the room gets the message's whole set of reactions, with its time.

The set is read, and its time taken, after the toggle is committed, time first: of two sets
the later time holds every change committed before the earlier one was read, so a page keeps
the set with the latest time and ignores older ones (replays after a reconnect among them).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import IntegrityError, transaction

from . import events
from .models import Message, Reaction
from .posting import PostRefused, count


def toggle(message: Message, user: Any, emoji: str) -> bool:
    """Add the user's ``emoji`` to the message, or take it away if there; True if added.
    The message's reactions go to its room once committed. PostRefused (400, 403, 429, 503) if not."""
    if emoji not in Reaction.EMOJI:
        raise PostRefused(400, f"React with one of {' '.join(Reaction.EMOJI)}.")
    if not message.room.is_readable_by(user):
        raise PostRefused(403, "Only members of this private room can react to its messages.")
    if message.room.archived:
        raise PostRefused(403, f"“{message.room.name}” is archived: it is read-only, and nobody can react in it.")
    count(user, "react", not_done="Your reaction was not saved")
    with transaction.atomic():
        removed, _ = Reaction.objects.filter(message=message, user=user, emoji=emoji).delete()
        if not removed:
            try:
                with transaction.atomic():
                    Reaction.objects.create(message=message, user=user, emoji=emoji)
            except IntegrityError:
                pass  # the same click from another tab, at the same moment: it is there
        transaction.on_commit(partial(events.reactions_changed, message), robust=True)
    return not removed
