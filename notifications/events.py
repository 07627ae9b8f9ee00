"""What the user's pages receive: ``notification`` and ``notification.read`` events on their topic.

Both carry the recipient's absolute ``unread`` count, so that a page handling an event twice
(a replay after a reconnect) or after rendering its effect still shows the right number.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence

from django.db.models import Count

import hubbub

from .models import Notification
from .topics import user_topic

logger = logging.getLogger(__name__)

CREATED = "notification"
READ = "notification.read"
# Above this many ids a notification.read event names only the newest one marked ("up_to").
MAX_IDS_IN_EVENT = 1000


def unread_counts(user_pks: Iterable[int]) -> dict[int, int]:
    pks = set(user_pks)
    counts = dict.fromkeys(pks, 0)
    rows = (
        Notification.objects.unread()
        .filter(recipient_id__in=pks)
        .values_list("recipient_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts.update(dict(rows))
    return counts


def notification_data(notification: Notification, unread: int) -> dict[str, object]:
    return {
        "id": notification.pk,
        "title": notification.title,
        "body": notification.body,
        "url": notification.url,
        "level": notification.level,
        "created": notification.created.isoformat(),
        "read": notification.read_at is not None,
        "unread": unread,
    }


def _publish(user_pk: int, type: str, data: dict[str, object]) -> None:
    try:
        hubbub.publish(user_topic(user_pk), json.dumps(data), private=True, type=type)
    except hubbub.HubbubError:
        # Stored notifications are not lost: the page shows them on its next load.
        logger.warning("notifications: could not publish %s to user %s", type, user_pk, exc_info=True)


def publish_created(notifications: Sequence[Notification]) -> None:
    """Announce committed notifications, one private update per recipient's topic."""
    counts = unread_counts(n.recipient_id for n in notifications)
    for notification in notifications:
        _publish(notification.recipient_id, CREATED, notification_data(notification, counts[notification.recipient_id]))


def publish_read(user_pk: int, ids: Sequence[int]) -> None:
    """Announce that ``ids`` of the user's notifications are now read."""
    unread = unread_counts([user_pk])[user_pk]
    data: dict[str, object] = {
        "ids": list(ids) if len(ids) <= MAX_IDS_IN_EVENT else [],
        "up_to": max(ids) if ids else None,
        "unread": unread,
    }
    _publish(user_pk, READ, data)
