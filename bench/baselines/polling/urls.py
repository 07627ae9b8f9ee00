from django.urls import path

from . import views

urlpatterns = [
    path("publish", views.publish),
    path("stream-chat-messages/", views.stream_chat_messages),
]
