"""System checks: settings the hub cannot honour are reported at start-up, not on a publish."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

from . import conf
from .updates import MAX_ID_LENGTH


@register()
def check_id_length(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    limit = conf.get("HUBBUB_MAX_ID_LENGTH")
    if isinstance(limit, int) and 0 < limit <= MAX_ID_LENGTH:
        return []
    return [
        Error(
            f"HUBBUB_MAX_ID_LENGTH is {limit!r}; it must be a whole number from 1 to {MAX_ID_LENGTH}.",
            hint=f"The update history stores ids in a column of {MAX_ID_LENGTH} characters.",
            id="hubbub.E001",
        )
    ]
