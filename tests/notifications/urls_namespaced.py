"""The notifications under a path and an instance namespace of the project's choosing."""

from django.urls import include, path

urlpatterns = [path("alerts/", include("hubbub.contrib.notifications.urls", namespace="alerts"))]
