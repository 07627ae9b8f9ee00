"""Routing the hub in a project's ASGI application.

The one line most projects need, in ``asgi.py``::

    application = with_hub(get_asgi_application())

A project that already has a ``ProtocolTypeRouter`` (WebSocket consumers, say) puts the
hub's route first in its HTTP router instead::

    ProtocolTypeRouter({"http": URLRouter([*hubbub.asgi.urlpatterns(), re_path(r"", django_app)]), ...})
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.urls import URLPattern, path

MERCURE_PATH = "/.well-known/mercure"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def urlpatterns() -> list[URLPattern]:
    """The hub's HTTP route, for a project's own Channels ``URLRouter``."""
    from ._endpoint import MercureEndpoint

    return [path(MERCURE_PATH.lstrip("/"), MercureEndpoint())]


class HubApplication:
    """Serves ``/.well-known/mercure`` and hands every other request (HTTP, WebSocket,
    lifespan) to the project's application unchanged."""

    def __init__(self, application: ASGIApp) -> None:
        from ._endpoint import MercureEndpoint
        from ._publishing import mark_serving

        self.application = application
        self.hub: ASGIApp = MercureEndpoint()
        self._mark_serving = mark_serving

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._mark_serving()
        if scope["type"] == "http" and scope["path"].removeprefix(scope.get("root_path", "")) == MERCURE_PATH:
            await self.hub(scope, receive, send)
        else:
            await self.application(scope, receive, send)


def with_hub(application: ASGIApp | None = None) -> HubApplication:
    """The project's ASGI application with the hub in front of it; with no argument,
    Django's own (``get_asgi_application()``)."""
    if application is None:
        from django.core.asgi import get_asgi_application

        application = get_asgi_application()
    return HubApplication(application)


def project_application() -> ASGIApp:
    """The application ``runserver`` and ``serve`` run: ``ASGI_APPLICATION`` if the project
    sets it, else Django's with the hub in front."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    name = getattr(settings, "ASGI_APPLICATION", None)
    if name:
        application: ASGIApp = import_string(name)
        return application
    return with_hub()
