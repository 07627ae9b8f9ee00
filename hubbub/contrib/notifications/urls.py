from django.urls import path

from . import api, views

app_name = "notifications"

urlpatterns = [
    path("notifications/", views.notification_list, name="list"),
    path("notifications/<int:pk>/read/", views.read_one, name="read"),
    path("notifications/read/", views.read_all, name="read-all"),
    path("api/notifications/", api.create_notifications, name="api"),
]
