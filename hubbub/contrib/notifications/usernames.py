"""Users by name, ignoring case, as people type them (the chat compares names ignoring case).

A name matches the user spelled exactly so, else the one user whose name differs only by case;
several such users (e.g. "ADA" and "ada" for "Ada") make the name ambiguous.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.functions import Lower


class UnknownUsers(LookupError):
    """Some names match no user, or several that differ only by case: the reason is in words."""


def users_named(names: list[str]) -> list[Any]:
    """The users of ``names`` (each once, in their order), or ``UnknownUsers``."""
    names = list(dict.fromkeys(names))
    User = get_user_model()
    field = User.USERNAME_FIELD
    folded_names = {name.lower() for name in names}
    candidates = list(User.objects.annotate(folded=Lower(field)).filter(folded__in=folded_names).order_by("pk"))
    users, missing, ambiguous = [], [], []
    for name in names:
        exact = [user for user in candidates if getattr(user, field) == name]
        folded = [user for user in candidates if getattr(user, field).lower() == name.lower()]
        matches = exact or folded
        if len(matches) == 1:
            users.append(matches[0])
        elif matches:
            spellings = " and ".join(getattr(user, field) for user in matches)
            ambiguous.append(f"{name} (could be {spellings}: give the name exactly)")
        else:
            missing.append(name)
    reasons = []
    if missing:
        reasons.append(f"unknown user(s): {', '.join(missing)}")
    if ambiguous:
        reasons.append(f"ambiguous user name(s): {', '.join(ambiguous)}")
    if reasons:
        raise UnknownUsers("; ".join(reasons))
    return users
