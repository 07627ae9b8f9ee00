"""What the user's pages receive: ``notification`` and ``notification.read`` events on their topic.

Both carry the recipient's absolute ``unread`` count, so that a page handling an event twice
(a replay after a reconnect) or after rendering its effect still shows the right number.

A page shows the count of the last event it got, so a user's events are counted and published
one at a time, under a lock per user, after the change they announce has committed: the event
published last counted after every change announced before it, and after its own. (Locking in
the writers' transactions would not do: publishing waits for the commit, which releases the
lock, so another writer could count and publish before the first one's event went out.) On
PostgreSQL the lock is an advisory lock, shared by every process; elsewhere it is the process's
own, as SQLite serves one (a ``notify`` command beside the embedded server counts in a process
of its own, so its event can still race a mark-read there).
"""

from __future__ import annotations

import json
import logging
import threading
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import connections, router
from django.db.models import Count

import hubbub

from .models import Notification
from .topics import user_topic

logger = logging.getLogger(__name__)

CREATED = "notification"
READ = "notification.read"
# Above this many ids a notification.read event names only the newest one marked ("up_to").
MAX_IDS_IN_EVENT = 1000

# PostgreSQL's advisory locks keyed by two int4 ("noti", the user); the hub's take one int8, a
# key space of its own.
_LOCK_SPACE = 0x6E6F_7469
_local_order = threading.Lock()


def unread_counts(user_pks: Iterable[int], using: str | None = None) -> dict[int, int]:
    pks = set(user_pks)
    counts = dict.fromkeys(pks, 0)
    rows = (
        Notification.objects.using(using)
        .unread()
        .filter(recipient_id__in=pks)
        .values_list("recipient_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts.update(dict(rows))
    return counts


def unread_count(user: Any) -> int:
    """The user's unread notifications."""
    return unread_counts([user.pk])[user.pk]


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


# While ``undelivered()`` collects, why updates were not delivered live (else they are logged).
_undelivered: ContextVar[list[str] | None] = ContextVar("hubbub_notifications_undelivered", default=None)


@contextmanager
def undelivered() -> Iterator[list[str]]:
    """Collect why the block's updates were not delivered live, one line each, instead of logging
    them: the hub refused or failed (``hubbub.HubbubError``), or no server answered the relay
    (``hubbub.RelayWarning``). The ``notify`` command reports them as its error."""
    failures: list[str] = []
    token = _undelivered.set(failures)
    try:
        yield failures
    finally:
        _undelivered.reset(token)


def _publish(user_pk: int, type: str, data: dict[str, object]) -> None:
    """Publish to the user's topic. A failure does not lose the notification, stored before: the
    user's pages show it when they next load or resume; it is logged in one line, or collected."""
    failures = _undelivered.get()
    if failures is None:
        try:
            hubbub.publish(user_topic(user_pk), json.dumps(data), private=True, type=type)
        except hubbub.HubbubError as error:
            logger.warning(
                "notifications: the %r event for user %s was not delivered live (pages catch up when they load): %s",
                type,
                user_pk,
                _line(error),
            )
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", hubbub.RelayWarning)
        try:
            hubbub.publish(user_topic(user_pk), json.dumps(data), private=True, type=type)
        except hubbub.HubbubError as error:
            failures.append(_line(error))
    for warning in caught:
        if issubclass(warning.category, hubbub.RelayWarning):
            failures.append(_line(warning.message))
        else:  # not ours to report: shown as they would have been
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def _line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextmanager
def _in_order(database: str, user_pk: object) -> Iterator[None]:
    """Hold the user's lock: counting and publishing inside it happen before or after another event's."""
    connection = connections[database]
    if connection.vendor != "postgresql":
        with _local_order:
            yield
        return
    # Users whose keys collide only wait for each other.
    key = (user_pk if isinstance(user_pk, int) else zlib.crc32(str(user_pk).encode())) % 2**31
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_LOCK_SPACE, key])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_SPACE, key])


def publish_created(notifications: Sequence[Notification]) -> None:
    """Announce committed notifications, one private update per recipient's topic."""
    database = router.db_for_write(Notification)  # counted where the changes committed, not on a replica
    for notification in notifications:
        user_pk = notification.recipient_id
        with _in_order(database, user_pk):
            unread = unread_counts([user_pk], using=database)[user_pk]
            _publish(user_pk, CREATED, notification_data(notification, unread))


def publish_read(user_pk: int, ids: Sequence[int]) -> None:
    """Announce that ``ids`` of the user's notifications are now read."""
    database = router.db_for_write(Notification)
    with _in_order(database, user_pk):
        data: dict[str, object] = {
            "ids": list(ids) if len(ids) <= MAX_IDS_IN_EVENT else [],
            "up_to": max(ids) if ids else None,
            "unread": unread_counts([user_pk], using=database)[user_pk],
        }
        _publish(user_pk, READ, data)
