"""Driving the Mercure endpoint in-process: single requests (publishing over HTTP, errors)
with asgiref's ApplicationCommunicator, subscriptions with ``hubbub.testing.subscribe``."""

from __future__ import annotations

import contextlib
from urllib.parse import urlencode

from asgiref.testing import ApplicationCommunicator

from hubbub import testing
from hubbub._endpoint import MercureEndpoint


def scope(method: str, query: list[tuple[str, str]] | str = "", headers: dict[str, str] | None = None) -> dict:
    query_string = query if isinstance(query, str) else urlencode(query)
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/.well-known/mercure",
        "raw_path": b"/.well-known/mercure",
        "query_string": query_string.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def request(method: str, query="", headers=None, body: bytes = b"") -> tuple[int, dict[bytes, bytes], bytes]:
    """A complete request/response exchange with the endpoint (for POST, OPTIONS and failing GETs)."""
    return await exchange(MercureEndpoint(), scope(method, query, headers), body)


async def exchange(application, scope: dict, body: bytes = b"") -> tuple[int, dict[bytes, bytes], bytes]:
    """One complete HTTP request/response through ``application``."""
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await communicator.receive_output(5)
    chunks = []
    while True:
        message = await communicator.receive_output(5)
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    await communicator.wait(5)
    return start["status"], dict(start["headers"]), b"".join(chunks)


async def publish(headers: dict[str, str] | None = None, token: str | None = None, **fields) -> tuple[int, bytes]:
    form = []
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            form.append((name, item))
    all_headers = {"content-type": "application/x-www-form-urlencoded"}
    all_headers["authorization"] = f"Bearer {token or testing.publisher_token()}"
    all_headers.update(headers or {})
    status, _, body = await request("POST", headers=all_headers, body=urlencode(form).encode())
    return status, body.strip()


class Stream:
    """An open subscription (a ``hubbub.testing.Subscriber``) read the way the older tests do:
    events as dicts of their fields, headers as bytes, opened and closed by hand."""

    def __init__(self, subscriber: testing.Subscriber) -> None:
        self.subscriber = subscriber

    @property
    def status(self) -> int:
        return self.subscriber.status

    @property
    def headers(self) -> dict[bytes, bytes]:
        return {name.encode("latin-1"): value.encode("latin-1") for name, value in self.subscriber.headers.items()}

    @property
    def ended(self) -> bool:
        return self.subscriber.ended

    async def read_events(self, count: int, timeout: float = 5) -> list[dict[str, str]]:
        """The next ``count`` events, fewer if the hub ends the stream first."""
        events: list[dict[str, str]] = []
        while len(events) < count:
            try:
                event = await self.subscriber.next(timeout)
            except EOFError:
                break
            fields = {"id": event.id, "data": event.data}
            if event.type != "message":
                fields["event"] = event.type
            if event.retry is not None:
                fields["retry"] = str(event.retry)
            events.append(fields)
        return events

    async def nothing_more(self, wait: float = 0.2) -> bool:
        """True if no event arrives within ``wait`` seconds."""
        return await self.subscriber.silent(wait)

    async def wait_ended(self, timeout: float = 5) -> None:
        """Wait until the hub ends the stream (dropping what it sends until then) and lets go of it."""
        with contextlib.suppress(EOFError):
            while True:
                await self.subscriber.next(timeout)
        await self.close()

    async def close(self) -> None:
        await self.subscriber.__aexit__(None, None, None)


async def subscribe(*selectors: str, headers: dict[str, str] | None = None, **params: str) -> Stream:
    """An open subscription to ``selectors``; ``params`` are further query parameters."""
    subscriber = testing.subscribe(*selectors, headers=headers, query=params)
    return Stream(await subscriber.__aenter__())
