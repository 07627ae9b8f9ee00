from typing import Any

from django.contrib import admin

from .models import Message, MessageRevision, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_private", "is_direct", "created_by", "created"]
    list_filter = ["is_private", "is_direct"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members"]
    raw_id_fields = ["created_by"]


class MessageRevisionInline(admin.TabularInline):
    """A message's earlier texts, as its author edited it away: read-only."""

    model = MessageRevision
    fields = ["replaced", "text"]
    readonly_fields = ["replaced", "text"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Deleting a message here (one or several) removes it from open pages at once. A message
    its author or a moderator deleted in the chat stays here, with who deleted it and when."""

    list_display = ["created", "room", "author", "text", "edited", "deleted_at", "deleted_by"]
    list_filter = ["room", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["text", "author__username"]
    raw_id_fields = ["author", "deleted_by"]
    inlines = [MessageRevisionInline]
    list_select_related = ["room", "author"]
    date_hierarchy = "created"
