"""Routing the hub in a project's ASGI application.

The one line most projects need, in ``asgi.py``::

    application = hubbub.asgi.with_hub(get_asgi_application())

A project that already has a ``ProtocolTypeRouter`` (WebSocket consumers, say) puts the
hub's route first in its HTTP router, and its WebSocket route in its WebSocket router::

    ProtocolTypeRouter({
        "http": URLRouter([*hubbub.asgi.urlpatterns(), re_path(r"", django_app)]),
        "websocket": AuthMiddlewareStack(URLRouter([*hubbub.asgi.websocket_urlpatterns(), ...])),
    })

The WebSocket endpoint is the same URL, upgraded (docs/websocket.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from django.urls import URLPattern, path

from ._updates import MERCURE_PATH

if TYPE_CHECKING:
    from ._endpoint import MercureEndpoint
    from ._metadata import ResourceMetadata
    from ._websocket import WebSocketEndpoint

# Where the hub's OAuth protected resource metadata lives (RFC 9728: the well-known prefix,
# then the hub's path).
METADATA_PATH = "/.well-known/oauth-protected-resource" + MERCURE_PATH

__all__ = [
    "MERCURE_PATH",
    "METADATA_PATH",
    "HubApplication",
    "project_application",
    "urlpatterns",
    "websocket_urlpatterns",
    "with_hub",
]


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Any ASGI 3 application: Django's handler, Channels' routers and middleware, another
# framework's app. Their annotations of scope and messages differ, so they are not checked.
ASGIApp = Callable[..., Awaitable[None]]


def urlpatterns() -> list[URLPattern]:
    """The hub's HTTP routes (the endpoint and its metadata document), for a project's own
    Channels ``URLRouter``."""
    from ._endpoint import MercureEndpoint
    from ._metadata import ResourceMetadata

    # ASGI applications, which Channels' URLRouter routes to.
    endpoint: Any = MercureEndpoint()
    metadata: Any = ResourceMetadata()
    return [path(MERCURE_PATH.lstrip("/"), endpoint), path(METADATA_PATH.lstrip("/"), metadata)]


def websocket_urlpatterns() -> list[URLPattern]:
    """The hub's WebSocket route (the same path), for a project's own WebSocket ``URLRouter``
    (under ``AuthMiddlewareStack``, the hub takes the session user from ``scope["user"]``)."""
    from ._websocket import WebSocketEndpoint

    endpoint: Any = WebSocketEndpoint()
    return [path(MERCURE_PATH.lstrip("/"), endpoint)]


class HubApplication:
    """Serves ``/.well-known/mercure`` (under the scope's ``root_path``), over HTTP and as a
    WebSocket, and hands every other request (other paths, lifespan) to the project's
    application unchanged."""

    def __init__(self, application: ASGIApp) -> None:
        from ._endpoint import MercureEndpoint
        from ._metadata import ResourceMetadata
        from ._publishing import mark_serving
        from ._websocket import WebSocketEndpoint

        self.application = application
        self.hub: MercureEndpoint = MercureEndpoint()
        self.metadata: ResourceMetadata = ResourceMetadata()
        self.socket: WebSocketEndpoint = WebSocketEndpoint(application)
        self._mark_serving = mark_serving

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._mark_serving()  # this process serves requests: it fans out itself, never relays
        kind = scope["type"]
        path = _path_in_app(scope) if kind in ("http", "websocket") else ""
        if kind == "http" and path == MERCURE_PATH:
            await self.hub(scope, receive, send)
        elif kind == "http" and path == METADATA_PATH:
            await self.metadata(scope, receive, send)
        elif kind == "websocket" and path == MERCURE_PATH:
            await self.socket(scope, receive, send)
        else:
            await self.application(scope, receive, send)


def _path_in_app(scope: Scope) -> str:
    """The request's path below the application's mount point: ASGI servers include
    ``root_path`` in ``path`` (uvicorn since 0.26, the spec since 2023), older ones do not."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path") or ""
    return path.removeprefix(root_path) if root_path and path.startswith(root_path + "/") else path


def with_hub(application: ASGIApp | None = None) -> HubApplication:
    """The project's ASGI application with the hub in front of it; with no argument,
    Django's own (``get_asgi_application()``)."""
    if application is None:
        from django.core.asgi import get_asgi_application

        application = get_asgi_application()
    return HubApplication(application)


def project_application() -> ASGIApp:
    """The application ``runserver`` and ``serve`` run: ``ASGI_APPLICATION`` if the project
    sets it (system check ``hubbub.E002`` makes sure it routes the hub), else Django's with
    the hub in front."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    name = getattr(settings, "ASGI_APPLICATION", None)
    if name:
        application: ASGIApp = import_string(name)
        return application
    return with_hub()
