"""The hub's template library: ``{% load hubbub %}``.

``{% mercure_link %}``
    ``<link rel="mercure" href="..." data-last-event-id="...">``: where the hub is and the
    position the page resumes from, which ``hubbub.js`` reads. The position is the request's
    (taken before the view ran by ``hubbub.discovery.DiscoveryMiddleware`` or
    ``@mercure_discovery``, else when the tag renders); a view that took its own before
    querying its data passes it: ``{% mercure_link position %}``. Put it in the page's
    ``<head>``, once.

``{% mercure_url %}``
    The hub's path (under the script prefix), for a script that needs it.
"""

from __future__ import annotations

from django import template
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

import hubbub
from hubbub import discovery

register = template.Library()


def _request(context: template.Context) -> HttpRequest | None:
    request = getattr(context, "request", None) or context.get("request")
    return request if isinstance(request, HttpRequest) else None


@register.simple_tag(takes_context=True)
def mercure_link(context: template.Context, last_event_id: object = None) -> SafeString:
    request = _request(context)
    if last_event_id is None or last_event_id == "":
        last_event_id = discovery.position(request) if request is not None else hubbub.last_event_id()
    return format_html(
        '<link rel="mercure" href="{}" data-last-event-id="{}">', discovery.hub_path(request), last_event_id
    )


@register.simple_tag(takes_context=True)
def mercure_url(context: template.Context) -> str:
    return discovery.hub_path(_request(context))
