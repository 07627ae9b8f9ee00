"""Template context for a project's own pages that subscribe to the hub with ``hubbub.js``.

Optional: add ``"hubbub.context_processors.hub"`` to ``TEMPLATES[...]["OPTIONS"]["context_processors"]``
to get ``hub_url`` (the hub's path) and ``hub_last_event_id`` (the current position, for
``<meta name="hubbub-last-event-id">``) in every template. The contrib apps do not need it: their
views and template tags give their pages what they need.
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
