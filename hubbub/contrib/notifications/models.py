from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

TITLE_MAX_LENGTH = 200
BODY_MAX_LENGTH = 4000
URL_MAX_LENGTH = 2000


_absolute_url = URLValidator(schemes=["http", "https"])


def is_safe_link(url: str) -> bool:
    """A path on this site or an http(s) URL: never ``javascript:`` or another scheme a link would run."""
    if url.startswith("/") and not url.startswith(("//", "/\\")):
        return not any(c.isspace() or ord(c) < 32 for c in url)
    try:
        _absolute_url(url)
    except ValidationError:
        return False
    return True


def validate_link(url: str) -> None:
    if url and not is_safe_link(url):
        raise ValidationError("Enter a path on this site (/...) or an http(s) URL.")


class Level(models.TextChoices):
    INFO = "info", "Info"
    SUCCESS = "success", "Success"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


class NotificationQuerySet(models.QuerySet["Notification"]):
    def unread(self) -> NotificationQuerySet:
        return self.filter(read_at__isnull=True)

    def for_user(self, user: object) -> NotificationQuerySet:
        return self.filter(recipient=user)


class Notification(models.Model):
    """One message for one user, unread until ``read_at`` is set."""

    # The indexes below start with the recipient, so the foreign key needs none of its own.
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hubbub_notifications", db_index=False
    )
    title = models.CharField(max_length=TITLE_MAX_LENGTH)
    body = models.TextField(blank=True, max_length=BODY_MAX_LENGTH)
    url = models.CharField("link", max_length=URL_MAX_LENGTH, blank=True, validators=[validate_link])
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.INFO)
    created = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            # The notification centre: a user's notifications, newest first.
            models.Index(fields=["recipient", "-created", "-id"], name="hubbub_notification_list_idx"),
            # The bell: counting a user's unread notifications.
            models.Index(fields=["recipient"], condition=Q(read_at__isnull=True), name="hubbub_notification_unread"),
        ]

    def __str__(self) -> str:
        return f"{self.title} → {self.recipient}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    def get_absolute_url(self) -> str:
        return self.url or reverse("notifications:list")
