"""Model signal receivers: a deleted message disappears from open pages, and a private room
appears in (or leaves) the sidebar of a member added (or removed) by any means: the
members form, the admin, the shell."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete
from django.dispatch import receiver

from . import events
from .models import Message, Room


@receiver(post_delete, sender=Message, dispatch_uid="chat.message_deleted")
def message_deleted(sender: type[Message], instance: Message, **kwargs: Any) -> None:
    try:
        room = instance.room
    except Room.DoesNotExist:
        return  # the room went too: nobody is looking at it
    events.message_deleted(room, instance.pk)


@receiver(m2m_changed, sender=Room.members.through, dispatch_uid="chat.membership_changed")
def membership_changed(
    sender: type, instance: Any, action: str, reverse: bool, pk_set: set[Any] | None, **kwargs: Any
) -> None:
    """Tell each added or removed member of a private room, once the change is committed.

    ``instance`` is the room (``room.members.add(user)``) or, from the other side, the user
    (``user.chat_rooms.add(room)``); ``pk_set`` holds the pks of the other side that changed.
    """
    if action == "pre_clear":  # post_clear no longer knows who was there
        pk_set = set((instance.chat_rooms if reverse else instance.members).values_list("pk", flat=True))
        announce = events.member_removed
    elif action in ("post_add", "post_remove"):
        announce = events.member_added if action == "post_add" else events.member_removed
    else:
        return
    if not pk_set:
        return
    if reverse:
        pairs = [(room, instance) for room in Room.objects.filter(pk__in=pk_set, is_private=True)]
    else:
        pairs = [(instance, pk) for pk in pk_set] if instance.is_private else []
    for room, user in pairs:
        transaction.on_commit(partial(announce, room, user), robust=True)
