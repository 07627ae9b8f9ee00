import asyncio
import time

from hubbub._selectors import SelectorSet
from hubbub._subscriptions import HEARTBEAT, Subscription
from hubbub._updates import Update


def subscription(limit=10, replaying=False, grants=()):
    return Subscription(SelectorSet(["t", "https://x/{id}"]), SelectorSet(grants), limit, replaying=replaying)


async def test_buffered_chunks_are_sent_as_one():
    sub = subscription()
    sub.push(1, b"a")
    sub.push(2, b"b")
    assert await sub.next() == b"ab"


async def test_next_waits_for_a_push():
    sub = subscription()
    waiting = asyncio.ensure_future(sub.next())
    await asyncio.sleep(0)
    assert not waiting.done()
    sub.push(1, b"x")
    assert await waiting == b"x"


async def test_overflow_closes_instead_of_growing():
    sub = subscription(limit=3)
    for n in range(1, 5):
        sub.push(n, b"x")
    assert sub.closed and "too slow" in sub.reason
    assert await sub.next() is None


async def test_close_wakes_the_reader():
    sub = subscription()
    waiting = asyncio.ensure_future(sub.next())
    await asyncio.sleep(0)
    sub.close("bye")
    assert await waiting is None


def test_replay_holds_live_events_and_drops_those_replayed():
    sub = subscription(replaying=True)
    sub.push(5, b"five")
    sub.push(7, b"seven")
    sub.push(6, b"six")
    assert not sub._chunks
    sub.finish_replay(6)
    assert list(sub._chunks) == [b"seven"]
    sub.push(6, b"late copy of six, still in flight during the replay")
    sub.push(8, b"eight")
    assert list(sub._chunks) == [b"seven", b"eight"]


def test_replay_overflow_closes():
    sub = subscription(limit=2, replaying=True)
    for n in range(1, 4):
        sub.push(n, b"x")
    assert sub.closed


def test_heartbeat_only_when_idle():
    sub = subscription()
    sub.push(1, b"x")
    sub.heartbeat()
    assert list(sub._chunks) == [b"x"]
    sub.heartbeat()
    assert list(sub._chunks) == [b"x", HEARTBEAT]


def test_wants_and_may_read():
    sub = subscription(grants=["https://x/1"])
    assert sub.wants(Update.create("t"))
    assert sub.wants(Update.create("https://x/2"))
    assert not sub.wants(Update.create("u"))
    assert not sub.wants(Update.create("https://x/2", private=True))
    assert sub.wants(Update.create(["https://x/2", "https://x/1"], private=True))


def test_byte_limit_closes_too():
    sub = Subscription(SelectorSet(["t"]), SelectorSet(), 100, limit_bytes=10)
    sub.push(1, b"12345")
    sub.push(2, b"12345")
    assert not sub.closed
    sub.push(3, b"1")
    assert sub.closed and "bytes" in sub.reason


async def test_sent_bytes_no_longer_count():
    sub = Subscription(SelectorSet(["t"]), SelectorSet(), 100, limit_bytes=10)
    sub.push(1, b"1234567890")
    assert await sub.next() == b"1234567890"
    sub.push(2, b"1234567890")
    assert not sub.closed


def test_replayed_pending_bytes_are_counted_once():
    sub = Subscription(SelectorSet(["t"]), SelectorSet(), 100, limit_bytes=10, replaying=True)
    sub.push(5, b"12345")
    sub.push(6, b"12345")
    sub.finish_replay(0)
    assert not sub.closed and list(sub._chunks) == [b"12345", b"12345"]


async def blocked_writer(sub):
    """A stream task whose write waits for ever (a client that does not read)."""

    async def write():
        sub.sending_since = time.monotonic()
        await asyncio.Event().wait()

    sub.task = asyncio.ensure_future(write())
    await asyncio.sleep(0)
    return sub.task


async def test_closing_while_a_write_waits_abandons_the_stream():
    sub = subscription(limit=2)
    task = await blocked_writer(sub)
    for n in range(1, 4):
        sub.push(n, b"x")  # over the limit: closed as too slow
    assert sub.closed and sub.abandoned
    await asyncio.wait({task}, timeout=1)
    assert task.cancelled()


async def test_closing_between_writes_lets_the_stream_end_by_itself():
    sub = subscription()
    sub.task = asyncio.ensure_future(sub.next())
    await asyncio.sleep(0)
    sub.close("bye")
    assert not sub.abandoned
    assert await sub.task is None


async def test_a_write_pending_past_the_write_timeout_is_abandoned_at_a_heartbeat():
    sub = Subscription(SelectorSet(["t"]), SelectorSet(), 10, write_timeout=0.05)
    task = await blocked_writer(sub)
    sub.heartbeat()
    assert not sub.closed  # pending, but not for long
    sub.sending_since -= 0.1
    sub.heartbeat()
    assert sub.closed and sub.abandoned and "write timeout" in sub.reason
    await asyncio.wait({task}, timeout=1)
    assert task.cancelled()


async def test_a_closed_stream_whose_last_write_waits_is_abandoned_at_the_next_heartbeat():
    sub = Subscription(SelectorSet(["t"]), SelectorSet(), 10)  # no write timeout
    sub.close("maximum connection lifetime reached")
    task = await blocked_writer(sub)  # the final write of the response
    sub.heartbeat()
    assert sub.abandoned and sub.reason == "maximum connection lifetime reached"
    await asyncio.wait({task}, timeout=1)
    assert task.cancelled()


class Transport:
    """A connection's transport: the bytes written, and how many the client has not taken."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.waiting = 0

    def write(self, data: bytes) -> None:
        self.written.append(data)
        self.waiting += len(data)

    def get_write_buffer_size(self) -> int:
        return self.waiting


def attached(**kwargs) -> tuple[Subscription, Transport]:
    sub = subscription(**kwargs)
    transport = Transport()
    sub.attach(transport)
    return sub, transport


async def test_an_attached_subscription_writes_events_straight_to_the_connection_framed_once():
    from hubbub._server import frame

    sub, transport = attached()
    framed = frame(b"data: a\n\n")
    sub.push(1, b"data: a\n\n", framed)
    sub.push(2, b"data: b\n\n")  # framed here when the caller has no framed copy
    assert transport.written[0] is framed
    assert transport.written == [b"9\r\ndata: a\n\n\r\n", b"9\r\ndata: b\n\n\r\n"]
    waiting = asyncio.ensure_future(sub.next())
    await asyncio.sleep(0)
    assert not waiting.done()  # nothing for the stream task to do
    sub.close("done")
    assert await waiting is None


async def test_closing_while_what_was_written_straight_to_the_connection_waits_abandons_the_stream():
    """Events written straight to a connection whose client stopped reading, then more than the
    buffer holds, all while the stream task slept: its last write would wait for the client."""
    from hubbub._subscriptions import BEHIND_BYTES

    sub, transport = attached(limit=2)
    sub.task = task = asyncio.ensure_future(sub.next())
    await asyncio.sleep(0)
    sub.push(1, b"x" * (BEHIND_BYTES + 1))
    for n in range(2, 5):
        sub.push(n, b"y")
    assert sub.closed and "too slow" in sub.reason and sub.abandoned
    await asyncio.wait({task}, timeout=1)
    assert task.cancelled()


async def test_closing_a_stream_written_to_directly_that_keeps_up_lets_it_end_by_itself():
    sub, transport = attached()
    sub.task = task = asyncio.ensure_future(sub.next())
    await asyncio.sleep(0)
    sub.push(1, b"x")
    transport.waiting = 0  # the client took it
    sub.close("bye")
    assert not sub.abandoned and await task is None


def test_an_attached_subscription_writes_its_heartbeat_when_idle():
    sub, transport = attached()
    sub.heartbeat()
    assert transport.written == [b"3\r\n:\n\n\r\n"]


async def test_a_client_that_falls_behind_is_served_through_the_buffer_in_order_then_directly_again():
    from hubbub._subscriptions import BEHIND_BYTES

    sub, transport = attached(limit=3)
    transport.waiting = BEHIND_BYTES + 1  # the client stopped taking bytes
    sub.push(1, b"one")
    sub.push(2, b"two")
    assert transport.written == []
    assert await sub.next() == b"onetwo"  # the stream task writes them, waiting for the client
    sub.sending_since = time.monotonic()  # ...as long as its write waits
    transport.waiting = 0
    sub.push(3, b"three")  # not before what the stream task is writing
    assert transport.written == []
    sub.sending_since = 0.0
    assert await sub.next() == b"three"
    sub.push(4, b"four")  # caught up: straight to the connection again
    assert transport.written == [b"4\r\nfour\r\n"]


def test_a_client_far_behind_overflows_the_buffer_and_is_closed():
    from hubbub._subscriptions import BEHIND_BYTES

    sub, transport = attached(limit=2)
    transport.waiting = BEHIND_BYTES + 1
    for seq in range(1, 4):
        sub.push(seq, b"x")
    assert sub.closed and "too slow" in sub.reason
