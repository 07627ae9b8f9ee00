"""``notify`` and ``anotify``: store one notification per recipient, then push it to their pages."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import overload

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import router, transaction

from . import events
from .models import BODY_MAX_LENGTH, TITLE_MAX_LENGTH, URL_MAX_LENGTH, Level, Notification, is_safe_link

Recipient = AbstractBaseUser | str | Iterable[AbstractBaseUser]


class InvalidNotification(ValueError):
    """A field of a notification is not acceptable (a ValueError with a one-line reason)."""


def clean_fields(title: object, body: object, url: object, level: object) -> tuple[str, str, str, str]:
    """The fields as stored, or InvalidNotification saying what is wrong."""
    fields = {"title": title, "body": body, "url": url, "level": level}
    for name, value in fields.items():
        if not isinstance(value, str):
            raise InvalidNotification(f"{name} must be a string")
    title, body, url, level = (str(value).strip() for value in fields.values())
    level = level.lower()
    if not title:
        raise InvalidNotification("title must not be empty")
    if len(title) > TITLE_MAX_LENGTH:
        raise InvalidNotification(f"title is longer than {TITLE_MAX_LENGTH} characters")
    if len(body) > BODY_MAX_LENGTH:
        raise InvalidNotification(f"body is longer than {BODY_MAX_LENGTH} characters")
    if len(url) > URL_MAX_LENGTH:
        raise InvalidNotification(f"url is longer than {URL_MAX_LENGTH} characters")
    if url and not is_safe_link(url):
        raise InvalidNotification("url must be a path on this site (/...) or an http(s) URL")
    if level not in Level.values:
        raise InvalidNotification(f"level must be one of {', '.join(Level.values)}, not {level!r}")
    if "\x00" in title + body + url:
        raise InvalidNotification("fields must not contain NUL characters")
    return title, body, url, level


def resolve_recipients(recipient: Recipient) -> list[AbstractBaseUser]:
    """A user, users (a queryset or any iterable) or a group name → the distinct saved users."""
    User = get_user_model()
    if isinstance(recipient, str):
        try:
            group = Group.objects.get(name=recipient)
        except Group.DoesNotExist:
            raise InvalidNotification(f"no group named {recipient!r}") from None
        users: Iterable[object] = User.objects.filter(groups=group).order_by("pk")
    elif isinstance(recipient, User):
        users = [recipient]
    elif isinstance(recipient, Iterable):
        users = recipient
    else:
        raise InvalidNotification(f"recipient must be a user, users or a group name, not {type(recipient).__name__}")
    distinct: dict[int, AbstractBaseUser] = {}
    for user in users:
        if not isinstance(user, User) or user.pk is None:
            raise InvalidNotification(f"recipient must be a saved {User.__name__}, not {user!r}")
        distinct.setdefault(user.pk, user)
    return list(distinct.values())


@overload
def notify(
    recipient: AbstractBaseUser, title: str, body: str = "", url: str = "", level: str = "info"
) -> Notification: ...
@overload
def notify(
    recipient: str | Iterable[AbstractBaseUser], title: str, body: str = "", url: str = "", level: str = "info"
) -> list[Notification]: ...
def notify(
    recipient: Recipient, title: str, body: str = "", url: str = "", level: str = "info"
) -> Notification | list[Notification]:
    """Notify a user, or each of several users, from sync code.

    ``recipient`` is a user (returns its Notification), or a queryset/list of users or a
    group name (returns a list, one Notification per distinct user, possibly empty). The
    rows are saved now; each recipient's pages are told once the surrounding transaction
    commits (at once outside a transaction), so a rolled-back transaction notifies no one.
    Raises ValueError (InvalidNotification) on an unknown level, an empty title, an
    over-long field, an unsafe url or an unknown group.
    """
    return _notify(recipient, title, body, url, level)


@overload
async def anotify(
    recipient: AbstractBaseUser, title: str, body: str = "", url: str = "", level: str = "info"
) -> Notification: ...
@overload
async def anotify(
    recipient: str | Iterable[AbstractBaseUser], title: str, body: str = "", url: str = "", level: str = "info"
) -> list[Notification]: ...
async def anotify(
    recipient: Recipient, title: str, body: str = "", url: str = "", level: str = "info"
) -> Notification | list[Notification]:
    """``notify`` for async code (the database work runs in a thread)."""
    return await sync_to_async(_notify)(recipient, title, body, url, level)


def _notify(recipient: Recipient, title: str, body: str, url: str, level: str) -> Notification | list[Notification]:
    title, body, url, level = clean_fields(title, body, url, level)
    users = resolve_recipients(recipient)
    rows = [
        Notification(recipient=user, title=title, body=body, url=url, level=level)  # type: ignore[misc]  # any user model
        for user in users
    ]
    database = router.db_for_write(Notification)
    with transaction.atomic(using=database):
        if rows:
            rows = Notification.objects.using(database).bulk_create(rows)
            transaction.on_commit(partial(events.publish_created, rows), using=database, robust=True)
    single = not isinstance(recipient, str) and isinstance(recipient, get_user_model())
    return rows[0] if single else rows
