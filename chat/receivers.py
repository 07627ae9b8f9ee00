"""Model signal receivers: a deleted message disappears from open pages."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete
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
