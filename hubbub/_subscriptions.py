"""One subscriber's connection state: what it listens to, may read, and has yet to receive."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import ClassVar

from ._selectors import SelectorSet
from ._server import BEHIND_BYTES, frame
from ._updates import Update

HEARTBEAT = b":\n\n"
FRAMED_HEARTBEAT = frame(HEARTBEAT)


class Subscription:
    """A bounded buffer of encoded events between the fan-out and one SSE response.

    While history is being replayed, live events are held in ``pending`` with their
    sequence numbers. Live delivery is in sequence order, so once the replay has sent
    everything up to ``floor``, any live event at or below it (held, or still in flight
    in the channel layer) was already sent and is dropped.
    A subscriber whose buffer fills up is closed: it reconnects and resumes by id.

    The stream task marks the time it started each write (``sending_since``, 0.0 between
    writes). A subscription closed while a write is pending, or found at a heartbeat with a
    write pending for more than ``write_timeout`` seconds (or pending at all, once closed),
    is abandoned: its stream task is cancelled (the client has stopped reading; the
    endpoint lets go of it and has the server drop the connection).

    Under the hub's own server, once the replay is over, the stream hands the subscription its
    connection's transport (``attach``): while the client keeps up, events then go straight to the
    connection as they are pushed, framed once per update for every subscriber (``framed``),
    and no task wakes up for them; a client that falls behind is served through the buffer
    as above.
    """

    __slots__ = (
        "selectors",
        "grants",
        "user",
        "limit",
        "limit_bytes",
        "closed",
        "reason",
        "idle",
        "floor",
        "task",
        "sending_since",
        "write_timeout",
        "abandoned",
        "deadline",
        "_chunks",
        "_pending",
        "_size",
        "_waiter",
        "_writer",
    )

    # Whether the fan-out pushes the update's socket message (``Update.encode_json``) rather
    # than its server-sent event (``Update.encode``).
    over_socket: ClassVar[bool] = False

    def __init__(
        self,
        selectors: SelectorSet,
        grants: SelectorSet,
        limit: int,
        *,
        limit_bytes: int = sys.maxsize,
        replaying: bool = False,
        user: str | None = None,
        write_timeout: float | None = None,
    ) -> None:
        self.selectors = selectors
        self.grants = grants
        self.user = user  # the pk of the session user whose grants are in ``grants``, if any
        self.limit = limit
        self.limit_bytes = limit_bytes
        self.closed = False
        self.reason = ""
        self.idle = True
        self.floor = 0
        self.task: asyncio.Task[None] | None = None  # the stream task, cancelled if abandoned
        self.sending_since = 0.0  # time.monotonic() when the pending write started; 0.0: none
        self.write_timeout = write_timeout
        self.abandoned = False
        # time.monotonic() past which the stream ends at a heartbeat (its lifetime; 0.0: none).
        self.deadline = 0.0
        # A list, not a deque: an empty deque holds a block of 64 slots, and while events are
        # written straight to the connection this stays empty.
        self._chunks: list[bytes] = []
        self._pending: list[tuple[int, bytes]] | None = [] if replaying else None
        self._size = 0
        self._waiter: asyncio.Future[None] | None = None
        self._writer: asyncio.WriteTransport | None = None

    def may_read(self, update: Update) -> bool:
        return not update.private or self.grants.match_any(update.topics)

    def wants(self, update: Update) -> bool:
        return self.selectors.match_any(update.topics) and self.may_read(update)

    def push(self, seq: int, chunk: bytes, framed: bytes | None = None) -> None:
        """Deliver one event (``framed``: the same as an HTTP/1.1 chunk, if the caller has it)."""
        if self.closed or seq <= self.floor:
            return
        writer = self._direct()
        if writer is not None:
            self._write(writer, chunk, framed)
            self.idle = False
            return
        waiting = len(self._pending) if self._pending is not None else len(self._chunks)
        if waiting >= self.limit or self._size + len(chunk) > self.limit_bytes:
            self.close(f"too slow: over {self.limit} events or {self.limit_bytes} bytes waiting")
            return
        self._size += len(chunk)
        if self._pending is not None:
            self._pending.append((seq, chunk))
            return
        self._chunks.append(chunk)
        self.idle = False
        self._wake()

    def _direct(self) -> asyncio.WriteTransport | None:
        """The writer, if an event can go straight to the connection now: nothing waits here
        or in the stream task's write (order), and the client keeps up. A client that falls
        behind gets its events through the buffer and the stream task again, whose writes
        wait for it, with the buffer's bounds and the write timeout."""
        writer = self._writer
        if (
            writer is None
            or self._pending is not None
            or self._chunks
            or self.sending_since
            or writer.get_write_buffer_size() > BEHIND_BYTES
        ):
            return None
        return writer

    def _write(self, writer: asyncio.WriteTransport, chunk: bytes, framed: bytes | None) -> None:
        """Write one event straight to the connection (an SSE stream: an HTTP/1.1 chunk)."""
        writer.write(framed if framed is not None else frame(chunk))

    def _beat(self, writer: asyncio.WriteTransport) -> None:
        """Keep an idle connection written to directly alive (an SSE stream: a comment)."""
        writer.write(FRAMED_HEARTBEAT)

    def attach(self, writer: asyncio.WriteTransport | None) -> None:
        """Write events straight to the connection when they can go at once (``_direct``); None: no more."""
        self._writer = writer

    def heartbeat(self) -> None:
        if self.deadline and not self.closed and time.monotonic() >= self.deadline:
            self.close("maximum connection lifetime reached")
        if self.sending_since:
            if self.closed:
                self.close(self.reason)  # its last write still waits for the client: it is abandoned
                return
            if self.write_timeout is not None and time.monotonic() - self.sending_since > self.write_timeout:
                self.close(f"write timeout: the client took no data for {self.write_timeout:g} s")
                return
        if self.idle and not self.closed and self._pending is None:
            writer = self._direct()
            if writer is not None:
                self._beat(writer)
            else:
                self._chunks.append(HEARTBEAT)
                self._wake()
        self.idle = True

    def finish_replay(self, replayed_up_to: int) -> None:
        """Release the live events held during replay, minus those the replay already sent."""
        pending, self._pending = self._pending or [], None
        self.floor = replayed_up_to
        self._size = 0
        for seq, chunk in pending:
            self.push(seq, chunk)

    def disconnected(self) -> None:
        """The client went away."""
        self.close("client disconnected")

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.reason = reason
            self._wake()
        writer = self._writer
        behind = writer is not None and writer.get_write_buffer_size() > BEHIND_BYTES
        if (self.sending_since or behind) and not self.abandoned and self.task is not None:
            # The stream task waits for the client to read, or would at its next write (what was
            # written straight to the connection is still waiting): it would see the close only then.
            self.abandoned = True
            self.task.cancel()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def take(self) -> bytes | None:
        """Everything buffered, as one chunk; ``b""`` when nothing is; None once closed."""
        if self.closed:
            return None
        chunks = self._chunks
        if not chunks:
            return b""
        chunk = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._size = 0
        return chunk

    def changed(self) -> asyncio.Future[None]:
        """A future done once something is buffered or the subscription is closed. A future,
        not a coroutine: an idle stream waits on it alone."""
        waiter = self._waiter
        if waiter is None or waiter.done():
            waiter = self._waiter = asyncio.get_running_loop().create_future()
        return waiter

    async def next(self) -> bytes | None:
        """Everything buffered, as one chunk, once there is some; None once closed."""
        while (chunk := self.take()) == b"":
            await self.changed()
        return chunk
