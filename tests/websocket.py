"""A small client of the hub's WebSocket over ``websockets``, for tests against real servers
(and uvicorn servers in the test's loop): JSON messages in and out, close codes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = ["Socket", "socket", "ws_url"]


class Socket:
    """A client socket speaking the hub's JSON protocol."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send(self, **message: Any) -> None:
        await self.connection.send(json.dumps(message))

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.connection.recv(), timeout))

    async def expect(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        message = await self.next(timeout)
        assert message["type"] == kind, message
        return message

    async def subscribe(self, key: str, *topics: str, last_event_id: str | None = None) -> None:
        request: dict[str, Any] = {"type": "subscribe", "id": key, "topics": list(topics)}
        if last_event_id is not None:
            request["last_event_id"] = last_event_id
        await self.send(**request)
        assert (await self.expect("subscribed")) == {"type": "subscribed", "id": key}

    async def events(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        return [await self.expect("event", timeout) for _ in range(count)]

    async def silent(self, seconds: float = 0.5) -> bool:
        try:
            message = await asyncio.wait_for(self.connection.recv(), seconds)
        except TimeoutError:
            return True
        pytest.fail(f"unexpected message {message!r}")

    async def closed(self, timeout: float = 10.0) -> tuple[int, str]:
        """The close code and reason, once the server has closed the socket."""
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(timeout):
                while True:
                    await self.connection.recv()
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code, closed.value.rcvd.reason


@asynccontextmanager
async def socket(url: str, *, cookie: str | None = None, **options: Any) -> AsyncIterator[Socket]:
    headers = {**options.pop("additional_headers", {}), **({"Cookie": cookie} if cookie else {})}
    options.setdefault("close_timeout", 2)
    async with connect(url, additional_headers=headers, open_timeout=10, **options) as connection:
        yield Socket(connection)


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1) + "/.well-known/mercure"
