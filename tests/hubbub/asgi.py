"""Driving the Mercure endpoint in-process with asgiref's ApplicationCommunicator."""

from __future__ import annotations

from urllib.parse import urlencode

from asgiref.testing import ApplicationCommunicator
from django.conf import settings

from hubbub import _tokens as tokens
from hubbub._endpoint import MercureEndpoint


def publisher_token(*selectors: str) -> str:
    return tokens.mint(settings.HUBBUB_PUBLISHER_JWT_KEY, publish=list(selectors or ["*"]))


def subscriber_token(*selectors: str, **kwargs) -> str:
    return tokens.mint(settings.HUBBUB_SUBSCRIBER_JWT_KEY, subscribe=list(selectors), **kwargs)


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
    """A complete request/response exchange (for POST, OPTIONS and failing GETs)."""
    communicator = ApplicationCommunicator(MercureEndpoint(), scope(method, query, headers))
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
    all_headers["authorization"] = f"Bearer {token or publisher_token()}"
    all_headers.update(headers or {})
    status, _, body = await request("POST", headers=all_headers, body=urlencode(form).encode())
    return status, body.strip()


class Stream:
    """An open subscription: read events, then disconnect."""

    def __init__(self, query, headers=None) -> None:
        self.communicator = ApplicationCommunicator(MercureEndpoint(), scope("GET", query, headers))
        self.buffer = b""
        self.status = 0
        self.headers: dict[bytes, bytes] = {}
        self.ended = False

    async def open(self) -> Stream:
        await self.communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
        start = await self.communicator.receive_output(5)
        self.status = start["status"]
        self.headers = dict(start["headers"])
        return self

    async def read_events(self, count: int, timeout: float = 5) -> list[dict[str, str]]:
        events: list[dict[str, str]] = []
        while len(events) < count:
            while b"\n\n" not in self.buffer:
                message = await self.communicator.receive_output(timeout)
                self.buffer += message.get("body", b"")
                if not message.get("more_body"):
                    self.ended = True
                    if b"\n\n" not in self.buffer:
                        return events
            block, self.buffer = self.buffer.split(b"\n\n", 1)
            event = parse_event(block.decode())
            if "data" in event:
                events.append(event)
        return events

    async def nothing_more(self, wait: float = 0.2) -> bool:
        """True if nothing but comments arrives within ``wait`` seconds."""
        while not await self.communicator.receive_nothing(timeout=wait):
            message = await self.communicator.receive_output(1)
            self.buffer += message.get("body", b"")
        return b"data:" not in self.buffer

    async def close(self) -> None:
        await self.communicator.send_input({"type": "http.disconnect"})
        await self.communicator.wait(5)


def parse_event(block: str) -> dict[str, str]:
    event: dict[str, str] = {}
    for line in block.split("\n"):
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data" and "data" in event:
            event["data"] += "\n" + value
        else:
            event[name] = value
    return event


async def subscribe(*selectors: str, headers=None, **params) -> Stream:
    query = [("topic", s) for s in selectors] + list(params.items())
    return await Stream(query, headers).open()
