"""Template context for pages of earlier versions that give ``hubbub.js`` the hub in ``<meta>`` tags.

New pages use ``{% mercure_link %}`` (``{% load hubbub %}``, see ``hubbub.discovery``), which
needs no context processor. This one still works: add ``"hubbub.context_processors.hub"`` to
``TEMPLATES[...]["OPTIONS"]["context_processors"]`` to get ``hub_url`` (the hub's path) and
``hub_last_event_id`` (the current position, for ``<meta name="hubbub-last-event-id">``) in
every template.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

import hubbub

HUB_URL = "/.well-known/mercure"


def hub(request: HttpRequest) -> dict[str, object]:
    """``hub_last_event_id`` is read only if a template uses it; a view that must take the
    position before it queries its own data passes ``hub_last_event_id`` itself."""

    return {"hub_url": HUB_URL, "hub_last_event_id": SimpleLazyObject(hubbub.last_event_id)}
