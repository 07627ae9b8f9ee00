"""Being added to a private chat room: the new member is notified, with a link to the room.

Only the chat's members form knows who added someone, so this hears ``hubbub.contrib.chat.signals.member_added``
(sent after the membership is committed); a user who added themselves is not told, nor is
anyone about a public room, which has no members to add.
"""

from __future__ import annotations

import logging
from typing import Any

from .models import TITLE_MAX_LENGTH
from .sending import notify

logger = logging.getLogger(__name__)


def notify_member_added(sender: Any, room: Any, user: Any, by: Any, **kwargs: Any) -> None:
    """Receiver of ``hubbub.contrib.chat.signals.member_added``."""
    if not room.is_private or user.pk == by.pk:
        return
    title = f"{by.get_username()} added you to {room.name}"
    if len(title) > TITLE_MAX_LENGTH:
        title = title[: TITLE_MAX_LENGTH - 1] + "…"
    try:
        notify(user, title, url=room.get_absolute_url())
    except ValueError:
        logger.exception("notifications: could not tell user %s they were added to room %s", user.pk, room.pk)
