"""Marking a user's notifications read, then telling every open page of theirs."""

from __future__ import annotations

from functools import partial

from django.db import router, transaction
from django.utils import timezone

from . import events
from .models import Notification


def mark_read(user: object, ids: list[int] | None = None, *, up_to: int | None = None) -> list[int]:
    """Mark the user's unread notifications ``ids`` (or all of them, when ``ids`` is None) read.

    ``up_to`` limits "all" to notifications the page had seen (id <= up_to), so that one
    arriving just before the click is not marked read unseen. Returns the ids marked now
    (already read or other users' ids are left alone) and publishes ``notification.read``
    after commit when there are any.
    """
    database = router.db_for_write(Notification)
    with transaction.atomic(using=database):
        unread = Notification.objects.using(database).for_user(user).unread()
        if ids is not None:
            unread = unread.filter(pk__in=ids)
        if up_to is not None:
            unread = unread.filter(pk__lte=up_to)
        marked = sorted(unread.select_for_update().values_list("pk", flat=True))
        if marked:
            # "All" updates by range, not by a list that may exceed the database's parameter limit.
            chosen = unread.filter(pk__lte=marked[-1]) if ids is None else unread.filter(pk__in=marked)
            chosen.update(read_at=timezone.now())
            transaction.on_commit(partial(events.publish_read, user.pk, marked), using=database, robust=True)  # type: ignore[attr-defined]
    return marked
