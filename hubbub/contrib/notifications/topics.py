"""The hub topic of each user's notifications: the one place that names it."""

from __future__ import annotations

PREFIX = "/notifications/users/"


def user_topic(user_or_pk: object) -> str:
    """``/notifications/users/<pk>``: private updates to it reach only that user's pages."""
    pk = getattr(user_or_pk, "pk", user_or_pk)
    if pk is None:
        raise ValueError("a notification topic needs a saved user")
    return f"{PREFIX}{pk}"
