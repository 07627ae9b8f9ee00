"""Model signal receivers: a deleted message disappears from open pages, and a private room
appears in (or leaves) the room lists of a member added (or removed) by any means (the
members form, the admin, the shell), whose new member list reaches the room's own pages;
an added member's unread count of it starts; a removed member's streams are authorized anew.
Every user's name has its skeleton stored (``NameSkeleton``), however the user is made or
renamed, for the lobby to refuse look-alikes. After every ``migrate`` on SQLite, the triggers
of message search are made whole again. A deleted attachment (with its message, its room) has
its files deleted from the storage once committed."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Max
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save
from django.dispatch import receiver

import hubbub

from . import attachments, events, lookalikes, search
from .models import Attachment, Message, NameSkeleton, ReadMarker, Room


@receiver(post_delete, sender=Message, dispatch_uid="hubbub.contrib.chat.message_deleted")
def message_deleted(sender: type[Message], instance: Message, **kwargs: Any) -> None:
    try:
        room = instance.room
    except Room.DoesNotExist:
        return  # the room went too: nobody is looking at it
    events.message_deleted(room, instance.pk)


@receiver(m2m_changed, sender=Room.members.through, dispatch_uid="hubbub.contrib.chat.membership_changed")
def membership_changed(
    sender: type, instance: Any, action: str, reverse: bool, pk_set: set[Any] | None, **kwargs: Any
) -> None:
    """Tell each added or removed member of a private room, close the streams of those
    removed, then tell the room's pages its new member list, once the change is committed.

    ``instance`` is the room (``room.members.add(user)``) or, from the other side, the user
    (``user.hubbub_chat_rooms.add(room)``); ``pk_set`` holds the pks of the other side that changed.
    """
    if action == "pre_clear":  # post_clear no longer knows who was there
        pk_set = set((instance.hubbub_chat_rooms if reverse else instance.members).values_list("pk", flat=True))
    elif action not in ("post_add", "post_remove"):
        return
    added = action == "post_add"
    announce = events.member_added if added else events.member_removed
    if not pk_set:
        return
    if reverse:
        rooms = list(Room.objects.filter(pk__in=pk_set, is_private=True))
        pairs = [(room, instance) for room in rooms]
    else:
        rooms = [instance] if instance.is_private else []
        pairs = [(room, pk) for room in rooms for pk in pk_set]
    for room, user in pairs:
        transaction.on_commit(partial(announce, room, user), robust=True)
    if added:
        start_unread_counts(pairs)
    if not added:
        # The hub asks what a stream may read when it opens: the streams opened while a member
        # would go on receiving the room. Closed after the commit, they reopen without it.
        for user in dict.fromkeys(user for _, user in pairs):
            hubbub.reauthorize(user)
    for room in rooms:
        transaction.on_commit(partial(events.members_changed, room), robust=True)


def start_unread_counts(pairs: list[tuple[Room, Any]]) -> None:
    """A member added to a private room has its messages from then on counted as unread (a
    marker at its newest message), as if they had viewed it; one who had a marker keeps it."""
    newest: dict[int, int] = {}
    for room, user in pairs:
        if room.pk not in newest:
            newest[room.pk] = room.messages.aggregate(newest=Max("id"))["newest"] or 0
        ReadMarker.objects.get_or_create(
            user_id=getattr(user, "pk", user), room=room, defaults={"last_read": newest[room.pk]}
        )


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="hubbub.contrib.chat.name_saved")
def name_saved(sender: type, instance: Any, raw: bool, update_fields: Any, **kwargs: Any) -> None:
    """Store the skeleton of a saved user's name (not for fixtures loaded raw, nor for saves
    that leave the name alone, such as the last login's)."""
    if raw or (update_fields is not None and instance.USERNAME_FIELD not in update_fields):
        return
    shape = lookalikes.skeleton(str(instance.get_username()))
    NameSkeleton.objects.update_or_create(user_id=instance.pk, defaults={"skeleton": shape})


@receiver(post_migrate, dispatch_uid="hubbub.contrib.chat.search_triggers")
def search_triggers(sender: Any, using: str, **kwargs: Any) -> None:
    """A later migration that alters the message table on SQLite copies it and drops the old one
    with the search triggers: made again (and the search table rebuilt) after ``migrate``."""
    if getattr(sender, "label", None) == "hubbub_chat" and connections[using].vendor == "sqlite":
        search.ensure_sqlite_triggers(connections[using])


@receiver(post_delete, sender=Attachment, dispatch_uid="hubbub.contrib.chat.attachment_deleted")
def attachment_deleted(sender: type[Attachment], instance: Attachment, **kwargs: Any) -> None:
    paths = [instance.path, instance.thumbnail_path]
    transaction.on_commit(partial(attachments.discard, paths), robust=True)
