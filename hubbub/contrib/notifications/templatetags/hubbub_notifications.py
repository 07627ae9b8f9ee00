"""The notifications' template library: ``{% load hubbub_notifications %}``.

``{% notification_bell %}``
    The bell with the signed-in user's unread count, kept live, and the toasts of new
    notifications: put it in the project's base template, where the bell should show (a
    header or nav). It brings its own stylesheet and script, and the hub position it resumes
    from, so it needs nothing from the page: only the request (or ``user``) in the context,
    which ``render()`` and a ``RequestContext`` give. For anonymous visitors it renders nothing.

``{% notification_assets %}``
    The notifications' stylesheet and script, once per request (the bell and the
    notification centre use it; a page of the project that overrides them may too).

``{{ count|badge }}``
    A count as the bell shows it: ``99+`` above 99.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.http import HttpRequest
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import SafeString

import hubbub

from ..events import unread_count
from ..models import Notification
from ..topics import user_topic

register = template.Library()

# Set on the request once its page has the stylesheet and script.
_ASSETS_SENT = "_hubbub_notifications_assets"


def _request(context: template.Context) -> HttpRequest | None:
    request = getattr(context, "request", None) or context.get("request")
    return request if isinstance(request, HttpRequest) else None


def _user(context: template.Context) -> Any:
    request = _request(context)
    user = getattr(request, "user", None) if request is not None else None
    return user if user is not None else context.get("user")


@register.inclusion_tag("hubbub/notifications/_bell.html", takes_context=True)
def notification_bell(context: template.Context) -> dict[str, object]:
    """The bell, for a signed-in user: unread count, topic, and the newest notification and
    hub position the page knows (the position first: what happens after it is replayed)."""
    user = _user(context)
    if not getattr(user, "is_authenticated", False):
        return {"bell": None}
    position = hubbub.last_event_id()
    newest = Notification.objects.for_user(user).order_by("-id").values_list("pk", flat=True).first()
    bell = {
        "unread": unread_count(user),
        "topic": user_topic(user),
        "newest": newest or 0,
        "last_event_id": position,
    }
    return {"bell": bell, "request": _request(context)}


@register.simple_tag(takes_context=True)
def notification_assets(context: template.Context) -> SafeString:
    request = _request(context)
    if request is not None:
        if getattr(request, _ASSETS_SENT, False):
            return SafeString("")
        setattr(request, _ASSETS_SENT, True)
    return format_html(
        '<link rel="stylesheet" href="{}"><script type="module" src="{}"></script>',
        static("hubbub/notifications/notifications.css"),
        static("hubbub/notifications/notifications.js"),
    )


@register.filter
def badge(count: int) -> str:
    return "99+" if count > 99 else str(count)
