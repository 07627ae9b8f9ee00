"""Direct messages: a private room for exactly one set of people, found again by its slug.

The slug is made from the sorted ids of the people, so starting a conversation with the
same people again (from either side) opens the same room. Its members never change (nobody
is added, removed, or leaves): another set of people is another conversation. Each new
member's pages are told by the membership receivers (``receivers.membership_changed``), as
for any private room, and list it under "Direct messages".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction

from .models import Room

# The most people in one conversation, its starter included.
MAX_PEOPLE = 9


def slug_for(people: Iterable[Any]) -> str:
    """``dm-`` and a digest of the people's sorted ids: the same people, the same slug."""
    ids = ",".join(str(pk) for pk in sorted({person.pk for person in people}))
    return f"dm-{hashlib.sha256(ids.encode()).hexdigest()[:24]}"


def start(starter: Any, others: Iterable[Any]) -> tuple[Room, bool]:
    """The conversation between ``starter`` and ``others``, and whether it was just created.

    Raises ValueError (its message in words) when there is nobody else, or too many people.
    """
    people = {person.pk: person for person in [starter, *others]}
    if len(people) < 2:
        raise ValueError("Choose someone other than yourself to send direct messages to.")
    if len(people) > MAX_PEOPLE:
        raise ValueError(f"A direct conversation is for at most {MAX_PEOPLE} people, you included.")
    slug = slug_for(people.values())
    room = Room.objects.filter(slug=slug).first()
    if room is not None:
        return room, False
    names = sorted((person.get_username() for person in people.values()), key=str.lower)
    try:
        with transaction.atomic():
            room = Room.objects.create(
                slug=slug, name=", ".join(names)[:60], is_private=True, is_direct=True, created_by=starter
            )
            room.members.add(*people.values())  # each member's pages are told (receivers)
    except IntegrityError:
        return Room.objects.get(slug=slug), False  # started at the same moment from the other side
    return room, True
