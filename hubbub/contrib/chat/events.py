"""What the chat publishes to the hub: one function per event type, to the room's topic,
the room directory, or a member's own topic.

Every event's data is JSON; the only HTML is a message's ``html``, its text rendered and
sanitized on the server (``formatting``), the one rendering that the room page shows too.
Pages must tolerate replays (the hub stores these updates and resends them after a
reconnect): messages carry their id, presence and a private room's members carry the whole
list and its time, typing notices carry their time.
"""

from __future__ import annotations

import json
import time
from typing import Any

import hubbub

from .formatting import message_html
from .models import Attachment, Message, Reaction, Room
from .topics import ROOMS, room_topic, user_topic


def now_ms() -> int:
    return int(time.time() * 1000)


def message_data(message: Message) -> dict[str, Any]:
    """A message as pages show it; ``edited``: when its author last edited it, or null."""
    return {
        "id": message.pk,
        "room": message.room.slug,
        "author": message.author.get_username(),
        "text": message.text,
        "html": message_html(message.text, message.room),
        "created": message.created.isoformat(),
        "edited": message.edited.isoformat() if message.edited else None,
        "attachment": attachment_data(getattr(message, "attachment", None)),
    }


def attachment_data(attachment: Attachment | None) -> dict[str, Any] | None:
    """A message's file: its name, size and download URL; an image's thumbnail URL and size."""
    if attachment is None:
        return None
    return {
        "name": attachment.name,
        "size": attachment.size,
        "url": attachment.get_absolute_url(),
        "image": attachment.is_image,
        "thumbnail": attachment.thumbnail_url(),
        "width": attachment.width,
        "height": attachment.height,
    }


def _publish(room: Room, type: str, data: dict[str, Any]) -> str:
    """Every room's updates are private: even a public room is for signed-in people only,
    and the hub grants each of them the rooms they may read (``chat.authorization``)."""
    return hubbub.publish(room_topic(room.slug), json.dumps(data), private=True, type=type)


def message_posted(message: Message) -> str:
    return _publish(message.room, "chat.message", message_data(message))


def reactions_changed(message: Message) -> str:
    """The message's whole set of reactions and when it was read (``reactions``): pages keep the latest."""
    at = now_ms()  # before reading, as members_changed
    reactions = Reaction.objects.summaries([message.pk])[message.pk]
    data = {"id": message.pk, "room": message.room.slug, "reactions": reactions, "at": at}
    return _publish(message.room, "chat.message.reactions", data)


def message_edited(message: Message) -> str:
    """The whole edited message: pages replace the text of one shown with an older ``edited``."""
    return _publish(message.room, "chat.message.edited", message_data(message))


def message_soft_deleted(message: Message) -> str:
    """A message deleted by its author or a moderator (kept in the database): pages drop it."""
    data = {"id": message.pk, "room": message.room.slug}
    return _publish(message.room, "chat.message.deleted", data)


def message_deleted(room: Room, message_id: int) -> str:
    """A message row deleted (the admin, the shell): pages drop it."""
    return _publish(room, "chat.deleted", {"id": message_id, "room": room.slug})


def presence_changed(room: Room, users: list[str], at: int) -> str:
    return _publish(room, "chat.presence", {"room": room.slug, "users": users, "at": at})


def members_changed(room: Room) -> str:
    """A private room's whole member list, to its own topic: only members read it."""
    at = now_ms()  # before reading: a list read later, and so no older, carries a later time
    return _publish(room, "chat.members", {"room": room.slug, "members": room.member_names(), "at": at})


def typing(room: Room, user: str) -> str:
    return _publish(room, "chat.typing", {"room": room.slug, "user": user, "at": now_ms()})


def read(user: object, room: Room, state: dict[str, Any]) -> str:
    """How far the user has read the room, and what is left (``unread.states``): to their own pages."""
    data = {"room": room.slug, **state}
    return hubbub.publish(user_topic(user), json.dumps(data), private=True, type="chat.read")


def room_data(room: Room, viewer: object = None) -> dict[str, Any]:
    """A room as the room lists show it; a direct conversation is named, for ``viewer`` (a user
    or their pk), by the other people in it."""
    return {
        "slug": room.slug,
        "name": room.title_for(viewer),
        "url": room.get_absolute_url(),
        "private": room.is_private,
        "direct": room.is_direct,
    }


def room_opened(room: Room) -> str:
    """Announce a new public room to every signed-in page (private rooms stay unlisted)."""
    return hubbub.publish(ROOMS, json.dumps(room_data(room)), private=True, type="chat.room")


def member_added(room: Room, user: object) -> str:
    """Announce a private room to its new member's pages alone, as ``room_opened`` does a public one to all."""
    return hubbub.publish(user_topic(user), json.dumps(room_data(room, user)), private=True, type="chat.room")


def member_removed(room: Room, user: object) -> str:
    """Take a private room off the pages of a member who lost it."""
    data = {"slug": room.slug, "url": room.get_absolute_url()}
    return hubbub.publish(user_topic(user), json.dumps(data), private=True, type="chat.room.removed")


def _room_and_lists(room: Room, members: list[Any] | None = None) -> list[str]:
    """The room's own topic and the topics of the room lists that show it: the directory's for
    a public room, each member's own for a private one (``members``: their pks, if given)."""
    if not room.is_private:
        return [room_topic(room.slug), ROOMS]
    if members is None:
        members = list(room.members.values_list("pk", flat=True))
    return [room_topic(room.slug), *(user_topic(pk) for pk in members)]


def room_changed(room: Room) -> str:
    """A room renamed, given a topic, archived or brought back: to its pages (title, topic,
    read-only) and the room lists that show it (an archived room leaves them)."""
    data = {**room_data(room), "topic": room.topic, "archived": room.archived}
    return hubbub.publish(_room_and_lists(room), json.dumps(data), private=True, type="chat.room.changed")


def room_deleted(room: Room, members: list[Any]) -> str:
    """A room about to be deleted: its pages leave it and the room lists drop it. Sent before
    the deletion, while ``members`` (their pks) still says who was in a private room."""
    data = {"slug": room.slug, "url": room.get_absolute_url()}
    return hubbub.publish(_room_and_lists(room, members), json.dumps(data), private=True, type="chat.room.deleted")
