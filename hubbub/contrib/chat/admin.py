from django.contrib import admin

from .models import Message, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_private", "is_direct", "created_by", "created"]
    list_filter = ["is_private", "is_direct"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members"]
    raw_id_fields = ["created_by"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Deleting a message here (one or several) removes it from open pages at once."""

    list_display = ["created", "room", "author", "text"]
    list_filter = ["room"]
    search_fields = ["text", "author__username"]
    raw_id_fields = ["author"]
    list_select_related = ["room", "author"]
    date_hierarchy = "created"
