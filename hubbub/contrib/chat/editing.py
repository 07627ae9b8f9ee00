"""Editing and deleting a message: who may, the rows, the hub update and the signal, in that order.

Its author edits a message (not in an archived room); its author or a moderator of the room
(``Room.is_managed_by``: its owner, staff) deletes it. A deletion is soft: the message leaves
every page but stays in the database, with who deleted it and when, and every earlier text of
an edited one stays as its ``revisions``, for moderators and the admin.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from . import events
from .models import Message, MessageRevision
from .posting import PostRefused, clean, count
from .signals import message_edited


def _may_read(message: Message, user: Any) -> None:
    if not message.room.is_readable_by(user):
        raise PostRefused(403, "Only members of this private room can change its messages.")


def edit(message: Message, user: Any, text: str) -> Message:
    """Replace the text (the old one kept as a revision), publish ``chat.message.edited`` with
    the commit, then send ``message_edited``; PostRefused (403, 400, 413, 429, 503) if not."""
    _may_read(message, user)
    if message.author_id != user.pk:
        raise PostRefused(403, "Only its author can edit a message.")
    if message.room.archived:
        raise PostRefused(403, f"“{message.room.name}” is archived: it is read-only, and nobody can edit in it.")
    text = clean(text)
    if text == message.text:
        return message  # nothing changed: no revision, no event, not counted
    count(user, not_done="Your edit was not saved")
    with transaction.atomic():
        locked = Message.objects.select_for_update().get(pk=message.pk)
        if locked.deleted_at is not None:
            raise PostRefused(404, "That message was deleted.")
        earlier = [*locked.revisions.values_list("text", flat=True), locked.text]
        now = timezone.now()
        MessageRevision.objects.create(message=locked, text=locked.text, replaced=now)
        locked.text, locked.edited = text, now
        locked.save(update_fields=["text", "edited"])
        events.message_edited(locked)
        transaction.on_commit(
            lambda: message_edited.send(sender=Message, message=locked, earlier_texts=earlier), robust=True
        )
    return locked


def may_delete(message: Message, user: Any) -> bool:
    """Its author (unless the room is archived) and the room's moderators."""
    if message.room.is_managed_by(user):
        return True
    return message.author_id == user.pk and not message.room.archived


def delete(message: Message, user: Any) -> Message:
    """Mark the message deleted by ``user`` and publish ``chat.message.deleted`` with the commit;
    PostRefused (403, 429, 503) if not."""
    _may_read(message, user)
    if not may_delete(message, user):
        if message.author_id == user.pk:
            raise PostRefused(403, f"“{message.room.name}” is archived: only its owner or staff can delete in it.")
        raise PostRefused(403, "Only its author, the room's owner or staff can delete a message.")
    count(user, "delete", not_done="The message was not deleted")
    with transaction.atomic():
        updated = Message.objects.filter(pk=message.pk, deleted_at__isnull=True).update(
            deleted_at=timezone.now(), deleted_by=user
        )
        if not updated:
            raise PostRefused(404, "That message was deleted already.")
        message.refresh_from_db(fields=["deleted_at", "deleted_by"])
        events.message_soft_deleted(message)
    return message
