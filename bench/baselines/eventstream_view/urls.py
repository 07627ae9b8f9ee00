import django_eventstream
from django.urls import include, path

from . import views

urlpatterns = [path("events/", include(django_eventstream.urls)), path("publish", views.publish)]
