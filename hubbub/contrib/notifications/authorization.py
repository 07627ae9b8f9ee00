"""The hub's authorization hook (``HUBBUB_AUTHORIZERS``): a user may read their own topic."""

from __future__ import annotations

from .topics import user_topic


def user_topics(user: object, selectors: list[str]) -> list[str]:
    if not getattr(user, "is_authenticated", False):
        return []
    return [user_topic(user)]
