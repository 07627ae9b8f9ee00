"""Posting a message (with a file, or without): the checks, the row, the hub update and the
signal, in that order."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from . import attachments, conf, events, ratelimit
from .models import Attachment, Message, Room
from .signals import message_posted


class PostRefused(Exception):
    """A post that was not stored; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


def check(room: Room, user: Any, text: str, upload: UploadedFile | None = None) -> str:
    """The text to store (empty only with a file), or PostRefused (403, 400, 413, 429 or 503) saying why not."""
    if not room.is_readable_by(user):
        raise PostRefused(403, "Only members of this private room can post in it.")
    if room.archived:
        raise PostRefused(403, f"“{room.name}” is archived: it is read-only, and nobody can post in it.")
    text = clean(text, upload)
    count(user)
    return text


def clean(text: str, upload: UploadedFile | None = None) -> str:
    """The text as stored (line ends made ``\\n``, outer blanks gone; empty only with a file), or
    PostRefused (400, 413) saying why it cannot be: a new message's and an edited one's alike."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if upload is not None:
        try:
            attachments.check_size(upload)
        except attachments.Refused as refused:
            raise PostRefused(refused.status, refused.reason) from None
    elif not text:
        raise PostRefused(400, "Write a message first: an empty message was not sent.")
    if "\x00" in text:
        # PostgreSQL cannot store it in a text column; no keyboard types it.
        raise PostRefused(400, "The message contains a NUL character (\\x00): remove it and send again.")
    limit = conf.get("CHAT_MAX_MESSAGE_LENGTH")
    if len(text) > limit:
        raise PostRefused(
            413, f"Your message is {len(text)} characters long; the limit is {limit}. Shorten it and send again."
        )
    return text


def count(user: Any, action: str = "", not_done: str = "Your message was not sent") -> None:
    """Count one write of ``user`` against ``CHAT_RATE_LIMIT``: a post or an edit (``action`` "",
    one count for both), a deletion ("delete") or a reaction ("react"), each counted apart;
    PostRefused (429, 503) over it."""
    try:
        ratelimit.limit("CHAT_RATE_LIMIT", f"{action}:{user.pk}" if action else f"{user.pk}")
    except ratelimit.Exceeded as over:
        wait = over.retry_after
        doing, again = {"delete": ("deleting messages", "try"), "react": ("reacting", "try")}.get(
            action, ("sending messages", "send")
        )
        raise PostRefused(429, f"You are {doing} too fast. Wait {wait} s and {again} again.", wait) from None
    except ratelimit.Unavailable as error:
        raise PostRefused(503, f"{not_done}: {error}") from None


def post(room: Room, user: Any, text: str, upload: UploadedFile | None = None) -> Message:
    """Store the message (and its file: ``attachments``), publish it to the room after commit,
    then send ``message_posted``."""
    text = check(room, user, text, upload)
    prepared = None
    if upload is not None:
        try:
            prepared = attachments.prepare(upload)
        except attachments.Refused as refused:
            raise PostRefused(refused.status, refused.reason) from None
        attachments.store(prepared)
    try:
        with transaction.atomic():
            message = Message.objects.create(room=room, author=user, text=text)
            if prepared is not None:
                Attachment.objects.create(message=message, **prepared.fields())
            events.message_posted(message)
            transaction.on_commit(lambda: message_posted.send(sender=Message, message=message), robust=True)
    except BaseException:
        if prepared is not None:
            attachments.discard(prepared.paths)  # nothing refers to them
        raise
    return message
