"""Creating rooms; their owner's changes (name and topic, archiving, deletion), each
announced to the room's pages and the room lists that show it. Members come and go
through ``Room.members``, whose receivers announce it (``hubbub.contrib.chat.receivers``)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import slugify

import hubbub

from . import events
from .models import Room


def create(name: str, creator: Any, *, private: bool = False) -> Room:
    """A new room with a unique slug made from its name; the creator is its first member."""
    base = slugify(name)[:50] or "room"
    number = 1
    while True:
        slug = base if number == 1 else f"{base}-{number}"
        if not Room.objects.filter(slug=slug).exists():
            try:
                with transaction.atomic():
                    room = Room.objects.create(slug=slug, name=name, is_private=private, created_by=creator)
                    room.members.add(creator)
                    return room
            except IntegrityError:
                pass  # taken at the same moment by someone else
        number += 1


def update(room: Room, *, name: str, topic: str) -> bool:
    """Rename the room and set its topic; whether anything changed. The slug stays: links
    and bookmarks to the room keep working under its new name."""
    if (room.name, room.topic) == (name, topic):
        return False
    with transaction.atomic():
        room.name, room.topic = name, topic
        room.save(update_fields=["name", "topic"])
        events.room_changed(room)
    return True


def set_archived(room: Room, archived: bool) -> bool:
    """Archive the room (read-only, left out of the room lists) or bring it back; whether it changed."""
    if room.archived == archived:
        return False
    with transaction.atomic():
        room.archived = archived
        room.save(update_fields=["archived"])
        events.room_changed(room)
    return True


def delete(room: Room) -> None:
    """Delete the room and its messages: its pages and the room lists are told first, and
    the streams of a private room's members are authorized anew (a later room may take its slug)."""
    members = list(room.members.values_list("pk", flat=True)) if room.is_private else []
    with transaction.atomic():
        events.room_deleted(room, members)
        room.delete()
        for pk in members:
            hubbub.reauthorize(pk)
