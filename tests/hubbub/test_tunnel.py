"""Requests to the project's views over the hub's WebSocket (hubbub._tunnel), against a uvicorn
server in the test's loop whose project application records what it gets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import hubbub
from hubbub.asgi import HubApplication
from tests.hubbub.server import running
from tests.websocket import socket

pytestmark = [pytest.mark.timeout(60), pytest.mark.django_db(transaction=True)]


class Views:
    """A project's application: records each request, answers as the test says."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, Any], bytes]] = []
        self.answer: tuple[int, list[tuple[bytes, bytes]], list[bytes]] = (200, [], [b"ok"])
        self.delay = 0.0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close"})
            return
        body = (await receive())["body"]
        self.requests.append((scope, body))
        await asyncio.sleep(self.delay)
        status, headers, chunks = self.answer
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for n, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": n < len(chunks) - 1})


@pytest.fixture
async def views() -> AsyncIterator[tuple[Views, str]]:
    views = Views()
    async with running(HubApplication(views)) as server:
        yield views, f"ws://127.0.0.1:{server.port}/.well-known/mercure"


async def test_a_request_reaches_the_project_as_the_page_would_have_sent_it(views):
    project, url = views
    project.answer = (201, [(b"content-type", b"application/json"), (b"set-cookie", b"a=b")], [b'{"id": ', b"7}"])
    headers = {"Cookie": "sessionid=abc; csrftoken=tok", "Origin": f"http://{url.split('/')[2]}"}
    async with socket(url, additional_headers=headers) as client:
        body = "text=h%C3%A9llo&room=general"
        await client.send(
            type="request",
            ref="r1",
            method="post",
            path="/rooms/general/messages/?x=1",
            headers={"X-CSRFToken": "tok", "Content-Type": "application/x-www-form-urlencoded"},
            body=body,
        )
        answer = await client.expect("response")
        assert answer == {
            "type": "response",
            "ref": "r1",
            "status": 201,
            "headers": {"content-type": "application/json"},  # never the cookies it sets
            "body": '{"id": 7}',
        }
    [(scope, received)] = project.requests
    assert (scope["type"], scope["method"], scope["path"], scope["query_string"]) == (
        "http",
        "POST",
        "/rooms/general/messages/",
        b"x=1",
    )
    assert received == body.encode()
    sent = dict(scope["headers"])
    assert sent[b"cookie"] == b"sessionid=abc; csrftoken=tok"
    assert sent[b"origin"] == headers["Origin"].encode() and sent[b"host"] == url.split("/")[2].encode()
    assert sent[b"x-csrftoken"] == b"tok" and sent[b"content-length"] == str(len(body)).encode()
    assert not any(name.startswith(b"sec-websocket") or name == b"upgrade" for name in sent)


async def test_bad_requests_and_views_that_fail_are_answered_with_their_status(views, settings):
    project, url = views
    settings.HUBBUB_BODY_TIMEOUT_SECONDS = 0.5
    async with socket(url) as client:
        await client.subscribe("keep", "t")
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({"method": "TRACE", "path": "/x"}, 400, '"method" must be one of'),
            ({"path": "https://elsewhere.example/"}, 400, '"path" must be a path of this site'),
            ({"path": "//elsewhere.example/"}, 400, '"path" must be a path of this site'),
            ({"path": "/.well-known/mercure"}, 400, "hub itself"),
            ({"path": "/x", "body": 3}, 400, '"body" must be a string'),
            ({"path": "/x", "headers": {"Cookie": "sessionid=stolen"}}, 400, "the socket's own"),
            ({"path": "/x", "headers": {"X-Forwarded-For": "1.2.3.4"}}, 400, "the socket's own"),
            ({"path": "/x", "headers": {"X-A": 1}}, 400, '"headers" must be'),
            ({"path": "/x", "body": "x" * (1024 * 1024 + 1)}, 413, "the body is larger"),
        ]
        for fields, status, reason in cases:
            await client.send(type="request", ref="q", **fields)
            error = await client.expect("error")
            assert (error["status"], error["ref"]) == (status, "q") and reason in error["reason"], (fields, error)
        assert project.requests == []
        project.answer = (200, [], [b"x" * 600_000, b"x" * 600_000])
        await client.send(type="request", ref="big", path="/big")
        assert (await client.expect("error"))["status"] == 502
        project.answer, project.delay = (200, [], [b"late"]), 2.0
        await client.send(type="request", ref="slow", path="/slow")
        error = await client.expect("error", timeout=5)
        assert (error["status"], error["reason"]) == (504, "the view did not answer within 0.5 s")
        update = await hubbub.apublish("t", "still here")
        assert [e["id"] for e in await client.events(1)] == [update]


async def test_requests_are_refused_to_pages_of_other_origins(views, settings):
    project, url = views
    settings.HUBBUB_CORS_ALLOWED_ORIGINS = ["https://app.example"]
    async with socket(url, origin="https://app.example") as client:
        await client.subscribe("a", "t")  # the hub itself, yes
        await client.send(type="request", ref=1, path="/account/")
        error = await client.expect("error")
        assert (error["status"], error["ref"]) == (403, 1) and "this site's own pages" in error["reason"]
    assert project.requests == []
