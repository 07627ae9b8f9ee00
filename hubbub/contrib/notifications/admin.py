from __future__ import annotations

from collections import defaultdict
from functools import partial

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from . import events
from .models import Notification
from .reading import mark_read


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["title", "recipient", "level", "created", "read_at"]
    list_filter = ["level", ("read_at", admin.EmptyFieldListFilter), "created"]
    search_fields = ["title", "body", "recipient__username"]
    raw_id_fields = ["recipient"]
    date_hierarchy = "created"
    list_select_related = ["recipient"]
    actions = ["mark_as_read"]

    def save_model(self, request: HttpRequest, obj: Notification, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            transaction.on_commit(partial(events.publish_created, [obj]), robust=True)

    @admin.action(description="Mark selected notifications as read")
    def mark_as_read(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        by_recipient: dict[int, list[int]] = defaultdict(list)
        for pk, recipient_id in queryset.values_list("pk", "recipient_id"):
            by_recipient[recipient_id].append(pk)
        marked = 0
        for recipient_id, ids in by_recipient.items():
            recipient = Notification._meta.get_field("recipient").related_model(pk=recipient_id)
            marked += len(mark_read(recipient, ids))
        self.message_user(request, f"Marked {marked} notification(s) as read.")
