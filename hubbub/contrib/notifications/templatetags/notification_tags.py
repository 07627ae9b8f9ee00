from __future__ import annotations

from django import template

from ..events import unread_counts
from ..models import Notification
from ..topics import user_topic

register = template.Library()


@register.simple_tag(takes_context=True)
def notification_bell(context: template.Context) -> dict[str, object]:
    """The bell's state for the signed-in user: unread count, topic, and the newest id the page knows."""
    user = context["user"]
    newest = Notification.objects.for_user(user).order_by("-id").values_list("pk", flat=True).first()
    return {"unread": unread_counts([user.pk])[user.pk], "topic": user_topic(user), "newest": newest or 0}


@register.filter
def badge(count: int) -> str:
    return "99+" if count > 99 else str(count)
