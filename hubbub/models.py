from __future__ import annotations

from django.db import models
from django.utils import timezone

from ._updates import MAX_ID_LENGTH, MAX_TYPE_LENGTH, Update


class StoredUpdate(models.Model):
    """One published update, kept so that subscribers can resume after its id."""

    seq = models.BigAutoField(primary_key=True)
    # Unique: a publisher that retries with the same id gets the stored update back, and
    # resuming after an id is unambiguous.
    uid = models.CharField("id", max_length=MAX_ID_LENGTH, unique=True)
    topics = models.JSONField()
    data = models.TextField(blank=True)
    private = models.BooleanField(default=False)
    type = models.CharField(max_length=MAX_TYPE_LENGTH, blank=True)
    retry = models.PositiveIntegerField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "hubbub_update"
        ordering = ["seq"]
        verbose_name = "update"

    def __str__(self) -> str:
        return f"{self.uid} → {', '.join(self.topics)}"

    @classmethod
    def from_update(cls, update: Update) -> StoredUpdate:
        return cls(
            uid=update.id,
            topics=list(update.topics),
            data=update.data,
            private=update.private,
            type=update.type or "",
            retry=update.retry,
        )

    def same_content(self, update: Update) -> bool:
        """Whether ``update`` (same id) is this stored update again, as a retry would send it."""
        return (
            list(self.topics) == list(update.topics)
            and self.data == update.data
            and self.private == update.private
            and (self.type or None) == update.type
            and self.retry == update.retry
        )

    def to_update(self) -> Update:
        return Update(
            topics=tuple(self.topics),
            data=self.data,
            private=self.private,
            type=self.type or None,
            id=self.uid,
            retry=self.retry,
        )
