"""Creating rooms and adding members to private ones."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import slugify

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
