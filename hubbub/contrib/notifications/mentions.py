"""Chat ``@name`` mentions: the mentioned users are notified, with a link to the message.

Rule: ``@`` at the start of the text or after a character that is not a letter, digit or
``_`` (so ``a@b.com`` is no mention), followed by an existing username, compared without
regard to case. A username may contain spaces (the lobby's generated names do), so up to
``MAX_WORDS`` words after the ``@`` are tried and the longest existing name wins:
``@Lady Macbeth, hi`` mentions "Lady Macbeth" if she exists, else "Lady". Trailing
punctuation (``.,!?:;)``) and a possessive ``'s`` are not part of a name. Each mentioned user is notified once per
message, never the author, and only active users who may read the room are.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.functions import Lower

from .sending import notify

logger = logging.getLogger(__name__)

MAX_WORDS = 4
MAX_MENTIONS = 20
BODY_PREVIEW = 300
_WORD = r"[\w.@+'’-]+"
_MENTION = re.compile(rf"(?<![\w@])@((?!@){_WORD}(?:[ \t](?!@){_WORD}){{0,{MAX_WORDS - 1}}})")
_TRAILING = ".,!?:;)'’-"
_POSSESSIVE = ("'s", "’s")


def candidate_names(text: str) -> list[list[str]]:
    """For each ``@`` in the text, the names it could stand for, longest first (lower case)."""
    mentions = []
    for match in _MENTION.finditer(text):
        words = match.group(1).split()
        names = []
        for count in range(len(words), 0, -1):
            name = " ".join(words[:count])
            bare = name.rstrip(_TRAILING)
            for variant in (name, bare, bare[:-2].rstrip(_TRAILING) if bare.endswith(_POSSESSIVE) else ""):
                if variant and variant.lower() not in names:
                    names.append(variant.lower())
        mentions.append(names)
    return mentions


def mentioned_users(text: str) -> list[Any]:
    """The existing active users the text mentions, each once, in order of first mention."""
    mentions = candidate_names(text)[:MAX_MENTIONS]
    if not mentions:
        return []
    User = get_user_model()
    field = User.USERNAME_FIELD
    wanted = {name for names in mentions for name in names}
    by_name: dict[str, list[Any]] = {}
    for user in User.objects.filter(is_active=True).annotate(lowered=Lower(field)).filter(lowered__in=wanted):
        by_name.setdefault(user.lowered, []).append(user)
    found: dict[int, Any] = {}
    for names in mentions:
        for name in names:
            if name in by_name:
                for user in by_name[name]:
                    found.setdefault(user.pk, user)
                break
    return list(found.values())


def message_url(message: Any) -> str:
    if hasattr(message, "get_absolute_url"):
        return message.get_absolute_url()
    return f"{message.room.get_absolute_url()}#message-{message.pk}"


def notify_mentions(sender: Any, message: Any, **kwargs: Any) -> None:
    """Receiver of ``hubbub.contrib.chat.signals.message_posted`` (sent after the message is committed).

    Only users who may read the message's room are notified: someone mentioned in a private room
    they are not a member of learns nothing, neither the text nor the room's name."""
    _notify(message, set())


def notify_new_mentions(sender: Any, message: Any, earlier_texts: list[str], **kwargs: Any) -> None:
    """Receiver of ``hubbub.contrib.chat.signals.message_edited``: the users the edited text
    mentions and none of its earlier texts did (they were told already), as ``notify_mentions``."""
    told = {user.pk for text in earlier_texts for user in mentioned_users(text)}
    _notify(message, told)


def _notify(message: Any, told: set[Any]) -> None:
    author = message.author
    may_read = getattr(message.room, "is_readable_by", None)
    if may_read is None:  # who may read it cannot be told: nobody is told of it
        logger.warning("notifications: the room of message %s cannot tell who may read it", message.pk)
        return
    users = [
        user
        for user in mentioned_users(message.text)
        if user.pk != author.pk and user.pk not in told and may_read(user)
    ]
    if not users:
        return
    name = getattr(author, "get_username", lambda: str(author))()
    text = message.text if len(message.text) <= BODY_PREVIEW else message.text[: BODY_PREVIEW - 1] + "…"
    try:
        notify(users, f"{name} mentioned you in {message.room.name}"[:200], text, message_url(message))
    except ValueError:
        logger.exception("notifications: could not notify the users mentioned in message %s", message.pk)
