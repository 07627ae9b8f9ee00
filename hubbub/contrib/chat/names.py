"""Names for guests: a random Shakespearean one when none is given, made unique; finding a user
by name as the lobby compares names, ignoring case; and a name that looks like someone else's."""

from __future__ import annotations

import re
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Case, Value, When

from . import lookalikes
from .models import NameSkeleton

SHAKESPEAREAN = (
    "Antonio",
    "Ariel",
    "Banquo",
    "Beatrice",
    "Benedick",
    "Benvolio",
    "Bianca",
    "Bottom",
    "Caliban",
    "Celia",
    "Cordelia",
    "Cressida",
    "Desdemona",
    "Dogberry",
    "Duncan",
    "Emilia",
    "Falstaff",
    "Feste",
    "Gertrude",
    "Hamlet",
    "Helena",
    "Hermia",
    "Hero",
    "Horatio",
    "Iago",
    "Imogen",
    "Isabella",
    "Juliet",
    "Kate",
    "Lavinia",
    "Lear",
    "Lysander",
    "Macbeth",
    "Malvolio",
    "Mercutio",
    "Miranda",
    "Oberon",
    "Olivia",
    "Ophelia",
    "Orlando",
    "Orsino",
    "Perdita",
    "Petruchio",
    "Polonius",
    "Portia",
    "Prospero",
    "Puck",
    "Quince",
    "Romeo",
    "Rosalind",
    "Sebastian",
    "Shylock",
    "Titania",
    "Touchstone",
    "Tybalt",
    "Viola",
    "Yorick",
)

MAX_LENGTH = 30
NAME_PATTERN = re.compile(r"^[\w.-]+$")
NAME_RULE = "Use letters, digits, '.', '-' or '_' (spaces become '_')."


def random_name() -> str:
    return secrets.choice(SHAKESPEAREAN)


def normalize(name: str) -> str:
    """The name as a username: trimmed, inner whitespace runs turned into '_'."""
    return re.sub(r"\s+", "_", name.strip())


def is_valid(name: str) -> bool:
    return bool(NAME_PATTERN.match(name)) and len(name) <= MAX_LENGTH


def unique_name(name: str) -> str:
    """``name``, or ``name`` with the smallest number after it that no user has (case-insensitively)
    and that looks like no user's name."""
    users = get_user_model().objects
    taken = {
        username.lower() for username in users.filter(username__istartswith=name).values_list("username", flat=True)
    }
    if name.lower() not in taken and lookalike(name) is None:
        return name
    number = 2
    while True:
        suffix = str(number)
        candidate = name[: MAX_LENGTH - len(suffix)] + suffix
        if candidate.lower() not in taken and lookalike(candidate) is None:
            return candidate
        number += 1


def lookalike(name: str) -> str | None:
    """The name of a user whose name looks like ``name`` (the same skeleton) without being it,
    ignoring case; or None. "Аda" with a Cyrillic А looks like "Ada"."""
    field = get_user_model().USERNAME_FIELD
    others = (
        NameSkeleton.objects.filter(skeleton=lookalikes.skeleton(name))
        .exclude(**{f"user__{field}__iexact": name})
        .values_list(f"user__{field}", flat=True)
    )
    other = others.first()
    return None if other is None else str(other)


def find_user(name: str) -> Any:
    """The user called ``name``, ignoring case as ``unique_name`` does, or None.

    Accounts that differ only by case (made before names were unique that way, or in the
    admin) are told apart by the exact name first, then the oldest wins.
    """
    exact_first = Case(When(username=name, then=Value(0)), default=Value(1))
    return get_user_model().objects.filter(username__iexact=name).order_by(exact_first, "pk").first()
