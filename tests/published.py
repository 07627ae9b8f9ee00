"""What reached the hub: the stored history, read back in tests of the apps built on it."""

from __future__ import annotations

import json

from hubbub.models import StoredUpdate


def published(type: str | None = None) -> list[tuple[list[str], dict, bool]]:
    """(topics, JSON data, private) per stored update, oldest first; only ``type`` if given."""
    rows = StoredUpdate.objects.order_by("seq")
    if type is not None:
        rows = rows.filter(type=type)
    return [(row.topics, json.loads(row.data), row.private) for row in rows]
