"""A small server-sent events client over httpx, for tests against real servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx


@dataclass
class Event:
    id: str = ""
    type: str = "message"
    data: str = ""
    retry: str = ""


class Stream:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    @property
    def status(self) -> int:
        return self.response.status_code

    async def next(self, timeout: float = 5.0) -> Event:
        """The next event with data (comments and retry-only blocks are skipped)."""
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> Event:
        event, data = Event(), []
        async for line in self._lines:
            if line == "":
                if data:
                    event.data = "\n".join(data)
                    return event
                event, data = Event(), []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            elif name == "id":
                event.id = value
            elif name == "event":
                event.type = value
            elif name == "retry":
                event.retry = value
        raise EOFError("the stream ended")

    async def take(self, count: int, timeout: float = 5.0) -> list[Event]:
        return [await self.next(timeout) for _ in range(count)]

    async def silent(self, seconds: float = 0.3) -> bool:
        """True if no event arrives within ``seconds``."""
        try:
            await self.next(seconds)
        except asyncio.TimeoutError:
            return True
        return False


@asynccontextmanager
async def subscribe(
    hub: str,
    *topics: str,
    last_event_id: str | None = None,
    headers: dict[str, str] | None = None,
    client: httpx.AsyncClient | None = None,
    **params: str,
) -> AsyncIterator[Stream]:
    query = [("topic", topic) for topic in topics] + list(params.items())
    all_headers = dict(headers or {})
    if last_event_id:
        all_headers["Last-Event-ID"] = last_event_id
    own = client is None
    client = client or httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None))
    try:
        async with client.stream("GET", hub, params=query, headers=all_headers) as response:
            yield Stream(response)
    finally:
        if own:
            await client.aclose()
