"""Rooms, their messages, and who has a room open right now."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.urls import reverse
from django.utils import timezone


class RoomQuerySet(models.QuerySet["Room"]):
    def readable_by(self, user: object) -> RoomQuerySet:
        """Public rooms for anyone signed in, private rooms for their members."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(models.Q(is_private=False) | models.Q(members=user)).distinct()


class Room(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=60)
    # Shown under the room's name; its owner (``created_by``) or staff set it, with the name.
    topic = models.CharField(max_length=200, blank=True)
    archived = models.BooleanField(
        default=False, help_text="An archived room is read-only and left out of the room lists."
    )
    is_private = models.BooleanField(
        "private", default=False, help_text="Only members can read and post in a private room."
    )
    is_direct = models.BooleanField(
        "direct messages",
        default=False,
        help_text="A private conversation between a fixed set of people (``direct``): its members never change.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="hubbub_chat_rooms")
    created = models.DateTimeField(default=timezone.now)

    objects = RoomQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("chat:room", args=[self.slug])

    def is_readable_by(self, user: object) -> bool:
        if not getattr(user, "is_authenticated", False):
            return False
        return not self.is_private or self.members.filter(pk=user.pk).exists()  # type: ignore[attr-defined]

    def is_managed_by(self, user: object) -> bool:
        """Its owner (who created it) and staff rename, archive and delete it and remove members."""
        if not getattr(user, "is_authenticated", False):
            return False
        if getattr(user, "is_staff", False):
            return True
        return not self.is_direct and self.created_by_id == user.pk  # type: ignore[attr-defined]

    def title_for(self, user: object) -> str:
        """The room's name, as ``user`` sees it: for direct messages, the other people's names."""
        if not self.is_direct:
            return self.name
        me = getattr(user, "pk", user)
        names = sorted(
            (member.get_username() for member in self.members.all() if member.pk != me),
            key=lambda name: (name.lower(), name),
        )
        return ", ".join(names) or self.name

    def member_names(self) -> list[str]:
        """The members' names, sorted case-insensitively (as presence lists are)."""
        return sorted(self.members.values_list("username", flat=True), key=lambda name: (name.lower(), name))


class MessageQuerySet(models.QuerySet["Message"]):
    def visible(self) -> MessageQuerySet:
        """The messages readers see: not deleted (a deleted one stays, for moderators and the admin)."""
        return self.filter(deleted_at__isnull=True)


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hubbub_chat_messages")
    text = models.TextField()
    created = models.DateTimeField(default=timezone.now)
    # When its author last edited it (its earlier texts are its ``revisions``).
    edited = models.DateTimeField(null=True, blank=True)
    # Deleted by its author or a moderator: gone from the room's pages, kept here for moderation.
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        # The history query: a room's messages before a given id, newest first.
        indexes = [models.Index(fields=["room", "id"], name="hubbub_chat_message_history")]

    def __str__(self) -> str:
        return f"{self.author}: {self.text[:50]}"

    def get_absolute_url(self) -> str:
        return f"{self.room.get_absolute_url()}#message-{self.pk}"


class MessageRevision(models.Model):
    """A message's text as it was before an edit: the original and each later text replaced."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="revisions")
    text = models.TextField()
    # When this text was replaced by the next one.
    replaced = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.text[:50]


class ReactionQuerySet(models.QuerySet["Reaction"]):
    def summaries(self, message_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
        """Per message, in one query: per emoji with at least one reaction, in ``Reaction.EMOJI``
        order, who reacted (their names, sorted) and how many."""
        ids = list(message_ids)
        names: dict[tuple[int, str], list[str]] = {}
        name_field = f"user__{get_user_model().USERNAME_FIELD}"
        rows = self.filter(message_id__in=ids).values_list("message_id", "emoji", name_field)
        for message_id, emoji, name in rows:
            names.setdefault((message_id, emoji), []).append(name)
        return {
            pk: [
                {"emoji": emoji, "count": len(users), "users": sorted(users, key=lambda name: (name.lower(), name))}
                for emoji in Reaction.EMOJI
                if (users := names.get((pk, emoji)))
            ]
            for pk in ids
        }


class Reaction(models.Model):
    """One person's emoji on a message: one of ``EMOJI``, at most once each."""

    EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢"]

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    emoji = models.CharField(max_length=8, choices=[(emoji, emoji) for emoji in EMOJI])
    created = models.DateTimeField(default=timezone.now)

    objects = ReactionQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "user", "emoji"], name="hubbub_chat_reaction_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.emoji} on {self.message_id}"


class ReadMarker(models.Model):
    """How far a user has read a room: the id of the newest message they have seen there.

    Made the first time they view the room; a room without one shows them no unread count."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    last_read = models.PositiveBigIntegerField(default=0)
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "room"], name="hubbub_chat_read_marker")]

    def __str__(self) -> str:
        return f"{self.user} read {self.room} to {self.last_read}"


class Presence(models.Model):
    """One open page (``client``) of a user in a room, and when it last said it was open."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="presences")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    client = models.CharField(max_length=64)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user", "client"], name="hubbub_chat_presence_client")]
        indexes = [models.Index(fields=["room", "last_seen"], name="hubbub_chat_presence_seen")]

    def __str__(self) -> str:
        return f"{self.user} in {self.room}"


class NameSkeleton(models.Model):
    """What a user's name looks like (``lookalikes.skeleton``), to find a name that looks like
    another: kept for every user by a receiver of the user model's ``post_save``."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+")
    skeleton = models.CharField(max_length=600, db_index=True)

    def __str__(self) -> str:
        return self.skeleton


class Attachment(models.Model):
    """A file sent with a message, kept in the storage ``CHAT_ATTACHMENT_STORAGE`` under a random
    name and served only through the chat's views (``attachments``), to those who may read the room.
    An image (checked by Pillow) has a thumbnail, made without its metadata."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="attachment")
    name = models.CharField(max_length=255, help_text="The file's name as sent (shown, and offered on download).")
    path = models.CharField(max_length=255, help_text="Where the file is in the storage.")
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    thumbnail_path = models.CharField(max_length=255, blank=True)
    # The thumbnail's size in pixels (0 for a file that is no image).
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.name

    @property
    def is_image(self) -> bool:
        return bool(self.thumbnail_path)

    def get_absolute_url(self) -> str:
        return reverse("chat:attachment", args=[self.pk])

    def thumbnail_url(self) -> str:
        return reverse("chat:thumbnail", args=[self.pk]) if self.thumbnail_path else ""
