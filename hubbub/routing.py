"""The hub's HTTP route, for a project's ``ProtocolTypeRouter``/``URLRouter``."""

from __future__ import annotations

from django.urls import path

from .endpoint import MercureEndpoint

MERCURE_PATH = ".well-known/mercure"


def urlpatterns() -> list:
    return [path(MERCURE_PATH, MercureEndpoint())]
