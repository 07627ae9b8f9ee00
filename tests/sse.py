"""A small server-sent events client over httpx, for tests against real servers.

It reads the stream with ``hubbub.testing``'s event-stream parser and gives its ``Event``s,
as ``hubbub.testing.subscribe`` does in-process."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import httpx

from hubbub.testing import Event, _EventParser, _Events

__all__ = ["Event", "Stream", "subscribe"]


class Stream(_Events):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.ended = False
        self._chunks = response.aiter_bytes()
        self._parser = _EventParser()
        self._events: deque[Event] = deque()
        self._reading: asyncio.Future[bytes] | None = None

    @property
    def status(self) -> int:
        return self.response.status_code

    async def next(self, timeout: float = 5.0) -> Event:
        """The next event (comments and retry-only blocks are skipped); raises ``TimeoutError``
        if none comes within ``timeout`` seconds (the stream stays usable), ``EOFError`` once
        the stream has ended."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._events:
            if self.ended:
                raise EOFError("the stream ended")
            if self._reading is None:
                self._reading = asyncio.ensure_future(anext(self._chunks))
            await asyncio.wait({self._reading}, timeout=max(deadline - loop.time(), 0))
            if not self._reading.done():
                raise TimeoutError("no event within the timeout")
            reading, self._reading = self._reading, None
            try:
                chunk = reading.result()
            except StopAsyncIteration:
                self.ended = True
                chunk = b""
            self._events.extend(self._parser.feed(chunk, final=self.ended))
        return self._events.popleft()

    async def _stop_reading(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            with suppress(asyncio.CancelledError, StopAsyncIteration, httpx.HTTPError):
                await self._reading


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
            stream = Stream(response)
            try:
                yield stream
            finally:
                await stream._stop_reading()
    finally:
        if own:
            await client.aclose()
