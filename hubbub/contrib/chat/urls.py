from django.urls import path

from . import views

app_name = "chat"

urlpatterns = [
    path("", views.lobby, name="lobby"),
    path("signin/", views.SignInView.as_view(), name="signin"),
    path("signout/", views.SignOutView.as_view(), name="signout"),
    path("account/", views.account, name="account"),
    path("rooms/", views.room_list, name="rooms"),
    path("direct/", views.direct_start, name="direct"),
    path("search/", views.search_page, name="search"),
    path("attachments/<int:pk>/", views.attachment_file, name="attachment"),
    path("attachments/<int:pk>/thumbnail/", views.attachment_thumbnail, name="thumbnail"),
    path("rooms/<slug:slug>/", views.room_page, name="room"),
    path("rooms/<slug:slug>/messages/", views.room_messages, name="messages"),
    path("rooms/<slug:slug>/messages/<int:message_id>/edit/", views.edit_message, name="edit_message"),
    path("rooms/<slug:slug>/messages/<int:message_id>/delete/", views.delete_message, name="delete_message"),
    path("rooms/<slug:slug>/messages/<int:message_id>/reactions/", views.react, name="react"),
    path("rooms/<slug:slug>/read/", views.room_read, name="read"),
    path("rooms/<slug:slug>/presence/", views.room_presence, name="presence"),
    path("rooms/<slug:slug>/typing/", views.room_typing, name="typing"),
    path("rooms/<slug:slug>/members/", views.room_members, name="members"),
    path("rooms/<slug:slug>/people/", views.room_people, name="people"),
    path("rooms/<slug:slug>/members/remove/", views.room_remove_member, name="remove_member"),
    path("rooms/<slug:slug>/leave/", views.room_leave, name="leave"),
    path("rooms/<slug:slug>/settings/", views.room_settings, name="settings"),
    path("rooms/<slug:slug>/archive/", views.room_archive, name="archive"),
    path("rooms/<slug:slug>/delete/", views.room_delete, name="delete"),
]
