"""hubbub.asgi: the hub in front of a project's application, its route for Channels' routers,
and the application runserver and serve run."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.handlers.asgi import ASGIHandler
from django.urls import re_path

from hubbub import _publishing as publishing, testing
from hubbub.asgi import MERCURE_PATH, METADATA_PATH, HubApplication, project_application, urlpatterns, with_hub
from tests.hubbub.asgi import exchange, scope as hub_scope

pytestmark = pytest.mark.django_db(transaction=True)


class Inner:
    """A project's application: answers 200 "inner" to HTTP and records every scope it gets."""

    def __init__(self) -> None:
        self.scopes: list[dict] = []

    async def __call__(self, scope, receive, send) -> None:
        self.scopes.append(scope)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"inner"})


def http_scope(path: str, method: str = "GET", *, root_path: str = "", query="", headers=None) -> dict:
    scope = hub_scope(method, query, headers)
    scope.update(path=path, raw_path=path.encode(), root_path=root_path)
    return scope


def publish_form(topic: str, data: str) -> tuple[dict[str, str], bytes]:
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "authorization": f"Bearer {testing.publisher_token()}",
    }
    return headers, urlencode({"topic": topic, "data": data}).encode()


class Subscription:
    """A GET on the hub's path through an application, read until an update's data arrives."""

    def __init__(self, application, topic: str, **scope_args) -> None:
        scope = http_scope(scope_args.pop("path", MERCURE_PATH), query=[("topic", topic)], **scope_args)
        self.communicator = ApplicationCommunicator(application, scope)
        self.buffer = b""

    async def open(self) -> tuple[int, dict[bytes, bytes]]:
        await self.communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
        start = await self.communicator.receive_output(5)
        return start["status"], dict(start["headers"])

    async def next_data(self, timeout: float = 5) -> str:
        while b"\ndata: " not in b"\n" + self.buffer or not self.buffer.endswith(b"\n\n"):
            message = await self.communicator.receive_output(timeout)
            self.buffer += message.get("body", b"")
        lines = [line for line in self.buffer.decode().splitlines() if line.startswith("data: ")]
        self.buffer = b""
        return lines[0].removeprefix("data: ")

    async def close(self) -> None:
        await self.communicator.send_input({"type": "http.disconnect"})
        await self.communicator.wait(5)


async def test_a_publish_through_with_hub_reaches_a_subscriber_through_it():
    inner = Inner()
    application = with_hub(inner)
    subscription = Subscription(application, "/books/1")
    status, headers = await subscription.open()
    assert status == 200
    assert headers[b"content-type"].startswith(b"text/event-stream")

    form_headers, body = publish_form("/books/1", "a new review")
    status, _, answer = await exchange(application, http_scope(MERCURE_PATH, "POST", headers=form_headers), body)
    assert status == 200
    assert answer.decode().strip().startswith("urn:uuid:")
    assert await subscription.next_data() == "a new review"
    await subscription.close()
    assert inner.scopes == []  # the hub's requests never reach the project's application


async def test_other_http_paths_reach_the_wrapped_application():
    inner = Inner()
    status, _, body = await exchange(with_hub(inner), http_scope("/books/"))
    assert (status, body) == (200, b"inner")
    assert [scope["path"] for scope in inner.scopes] == ["/books/"]


@pytest.mark.parametrize(
    "path", ["/.well-known/mercure/", "/.well-known/mercure/x", "/.well-known/mercur", "/x/.well-known/mercure"]
)
async def test_paths_near_the_hubs_reach_the_wrapped_application(path):
    inner = Inner()
    status, _, body = await exchange(with_hub(inner), http_scope(path))
    assert (status, body) == (200, b"inner")


@pytest.mark.parametrize("scope_type", ["websocket", "lifespan"])
async def test_websocket_elsewhere_and_lifespan_reach_the_wrapped_application(scope_type):
    inner = Inner()
    scope = {"type": scope_type, "asgi": {"version": "3.0"}}
    if scope_type == "websocket":
        scope.update(path="/ws/chat/", raw_path=b"/ws/chat/", root_path="", query_string=b"", headers=[])
    communicator = ApplicationCommunicator(with_hub(inner), scope)
    await communicator.wait(5)
    assert [recorded["type"] for recorded in inner.scopes] == [scope_type]


async def test_a_websocket_on_the_hubs_path_is_the_hubs():
    """The hub's WebSocket (docs/websocket.md) is its path, upgraded."""
    inner = Inner()
    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "path": MERCURE_PATH, "raw_path": MERCURE_PATH.encode()}
    scope.update(root_path="", query_string=b"", headers=[], client=("127.0.0.1", 5000))
    communicator = ApplicationCommunicator(with_hub(inner), scope)
    await communicator.send_input({"type": "websocket.connect"})
    assert (await communicator.receive_output(5))["type"] == "websocket.accept"
    await communicator.send_input({"type": "websocket.receive", "text": '{"type": "ping"}'})
    assert (await communicator.receive_output(5))["text"] == '{"type": "pong"}'
    await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
    await communicator.wait(5)
    assert inner.scopes == []


async def test_the_hub_answers_under_the_root_path():
    """Servers include root_path in path (uvicorn --root-path, the ASGI spec since 2023);
    older ones leave it out: the hub answers either way, and only there."""
    inner = Inner()
    application = with_hub(inner)
    for path in ("/app/.well-known/mercure", "/.well-known/mercure"):
        status, headers, _ = await exchange(application, http_scope(path, "POST", root_path="/app"))
        assert status == 401  # the hub's answer to a publish without a token
        # The challenge points at the metadata under the same root path.
        assert headers[b"www-authenticate"].startswith(b"Bearer resource_metadata=")
        assert headers[b"www-authenticate"].endswith(b'/app/.well-known/oauth-protected-resource/.well-known/mercure"')
    status, _, body = await exchange(application, http_scope("/app/.well-known/mercure", "POST"))
    assert (status, body) == (200, b"inner")  # without the root path, /app/... is the project's


async def test_a_subscription_under_the_root_path_gets_what_is_published():
    application = with_hub(Inner())
    subscription = Subscription(application, "/rooted", path="/app/.well-known/mercure", root_path="/app")
    assert (await subscription.open())[0] == 200
    form_headers, body = publish_form("/rooted", "under /app")
    scope = http_scope("/app/.well-known/mercure", "POST", root_path="/app", headers=form_headers)
    assert (await exchange(application, scope, body))[0] == 200
    assert await subscription.next_data() == "under /app"
    await subscription.close()


async def test_a_request_through_with_hub_makes_the_process_a_server(monkeypatch):
    """A process that serves requests fans out itself: it never relays to another server."""
    monkeypatch.setattr(publishing, "_serving", False)
    await exchange(with_hub(Inner()), http_scope("/books/"))
    assert publishing._serving


def test_with_hub_defaults_to_djangos_application():
    application = with_hub()
    assert isinstance(application, HubApplication)
    assert isinstance(application.application, ASGIHandler)


async def test_urlpatterns_route_the_hub_in_a_channels_router():
    inner = Inner()
    router = ProtocolTypeRouter({"http": URLRouter([*urlpatterns(), re_path(r"", inner)])})
    subscription = Subscription(router, "/routed")
    assert (await subscription.open())[0] == 200
    form_headers, body = publish_form("/routed", "through URLRouter")
    assert (await exchange(router, http_scope(MERCURE_PATH, "POST", headers=form_headers), body))[0] == 200
    assert await subscription.next_data() == "through URLRouter"
    await subscription.close()

    assert (await exchange(router, http_scope("/books/")))[2] == b"inner"
    status, _, _ = await exchange(router, http_scope("/app/.well-known/mercure", "POST", root_path="/app"))
    assert status == 401  # the hub, under Channels' handling of root_path
    assert [scope["path"] for scope in inner.scopes] == ["/books/"]


sample_application = Inner()


def test_project_application_is_asgi_application_when_set(settings):
    settings.ASGI_APPLICATION = "tests.hubbub.test_asgi.sample_application"
    assert project_application() is sample_application


def test_project_application_is_djangos_with_the_hub_when_asgi_application_is_unset(settings):
    del settings.ASGI_APPLICATION
    application = project_application()
    assert isinstance(application, HubApplication)
    assert isinstance(application.application, ASGIHandler)


async def test_the_hub_serves_its_protected_resource_metadata_in_front_of_the_project_and_in_channels():
    inner = Inner()
    status, headers, body = await exchange(with_hub(inner), http_scope(METADATA_PATH))
    assert status == 200 and headers[b"content-type"] == b"application/json"
    assert b'"resource"' in body and not inner.scopes
    router = URLRouter([*urlpatterns(), re_path(r"", inner)])
    status, _, body = await exchange(router, http_scope(METADATA_PATH))
    assert status == 200 and b'"mercure_cookie"' in body and not inner.scopes
