"""The load generator: N SSE (or WebSocket) subscribers and an HTTP publisher in one asyncio (uvloop) process.

It speaks HTTP/1.1 by hand over ``asyncio.open_connection`` streams (no client library
in the hot path), de-chunks the SSE responses and finds the marker
``bench-<n>-<t>`` that every published update carries: ``n`` numbers the update,
``t`` is ``time.monotonic_ns()`` taken just before its POST was written, so the latency
is computed in this process with one clock. It reads the server's CPU time and RSS from
``/proc`` at the edges of each phase. With ``"transport": "ws"`` the subscribers open the
hub's WebSocket instead (RFC 6455 by hand as well: the upgrade, one masked ``subscribe``
frame, then unmasked frames read and their payloads searched for the marker; pings answered).

Run by ``bench/run.py``: the configuration is a JSON object in ``argv[1]``; progress and
the result are JSON lines on stdout; before publishing it prints
``{"event": "ready"}`` once the subscribers are connected and waits for a line on stdin
(so a profiler can attach before the idle and publish phases).
"""

from __future__ import annotations

import array
import asyncio
import gc
import json
import os
import re
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import uvloop

MARK = re.compile(rb"bench-(\d+)-(\d+)")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
WARMUP_TOPIC = "warmup"


# /proc readings of the server's process tree


def process_tree(roots: list[int]) -> list[int]:
    found: list[int] = []
    stack = list(roots)
    while stack:
        pid = stack.pop()
        found.append(pid)
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    stack.extend(int(child) for child in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            pass
    return found


def cpu_seconds(roots: list[int]) -> float:
    """utime + stime of every process in the tree, in seconds."""
    total = 0
    for pid in process_tree(roots):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def rss_kb(roots: list[int]) -> int:
    total = 0
    for pid in process_tree(roots):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except FileNotFoundError:
            continue
    return total


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# HTTP/1.1 by hand


class Dechunker:
    """Undoes ``Transfer-Encoding: chunked`` incrementally."""

    __slots__ = ("buffer", "left", "done", "trailer")

    def __init__(self) -> None:
        self.trailer = b""  # what followed the last chunk's size line in the same read
        self.buffer = b""
        self.left = 0  # >0: payload bytes still to read; <0: CRLF bytes still to skip
        self.done = False

    def feed(self, data: bytes) -> bytes:
        if self.done:
            return b""  # the last chunk's trailer
        buf = self.buffer + data if self.buffer else data
        out: list[bytes] = []
        pos, end = 0, len(buf)
        self.buffer = b""
        while pos < end:
            if self.left > 0:
                take = min(self.left, end - pos)
                out.append(buf[pos : pos + take])
                pos += take
                self.left -= take
                if self.left == 0:
                    self.left = -2
            elif self.left < 0:
                skip = min(-self.left, end - pos)
                pos += skip
                self.left += skip
            else:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    self.buffer = buf[pos:]
                    break
                size = int(buf[pos:eol].split(b";")[0], 16)
                pos = eol + 2
                if size == 0:
                    self.done = True
                    self.trailer = buf[pos:]
                    break
                self.left = size
        return b"".join(out)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = CONTENT_LENGTH.search(head)
    if length:
        return status, await reader.readexactly(int(length.group(1)))
    if b"chunked" in head.lower():
        dechunker = Dechunker()
        body = []
        while not dechunker.done:
            data = await reader.read(65536)
            if not data:
                raise asyncio.IncompleteReadError(b"", None)
            body.append(dechunker.feed(data))
        if len(dechunker.trailer) < 2:
            await reader.readexactly(2 - len(dechunker.trailer))  # the final CRLF, so the next response starts clean
        return status, b"".join(body)
    return status, b""


class Publisher:
    """One keep-alive connection that POSTs updates: form-encoded ``topic`` + ``data``, or (``raw``)
    the data alone to a path that names the topic (``{topic}`` in it, as nchan's publisher location)."""

    def __init__(self, host: str, port: int, path: str, authorization: str | None, raw: bool = False) -> None:
        self.host, self.port, self.path = host, port, path
        extra = f"Authorization: Bearer {authorization}\r\n" if authorization else ""
        content_type = "text/plain" if raw else "application/x-www-form-urlencoded"
        self.head_template = (
            f"POST {{path}} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}Content-Type: {content_type}\r\nContent-Length: "
        )
        self.heads: dict[str, bytes] = {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def head(self, topic: str) -> bytes:
        head = self.heads.get(topic)
        if head is None:
            path = self.path.format(topic=quote(topic, safe="")) if "{topic}" in self.path else self.path
            head = self.heads[topic] = self.head_template.format(path=path).encode()
        return head

    async def post(self, body: bytes, topic: str = "") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(b"%s%d\r\n\r\n%s" % (self.head(topic), len(body), body))
        try:
            return await read_response(self.reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close()
            raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


# WebSocket by hand (RFC 6455)

WS_UPGRADE = (
    "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final client frame; masked (clients must mask) with the all-zero key, which leaves
    the payload as it is."""
    length = len(payload)
    if length < 126:
        head = bytes([0x80 | opcode, 0x80 | length])
    elif length < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
    return head + b"\x00\x00\x00\x00" + payload


class FrameReader:
    """Splits the server's (unmasked) frames out of what arrives, whatever the read boundaries."""

    __slots__ = ("buffer",)

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self.buffer + data if self.buffer else data
        frames: list[tuple[int, bytes]] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if end - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if end - pos < head + length:
                break
            frames.append((buf[pos] & 0x0F, buf[pos + head : pos + head + length]))
            pos += head + length
        self.buffer = buf[pos:]
        return frames


# Subscribers


@dataclass(eq=False)
class Subscriber:
    topic: str
    seen: set[int] = field(default_factory=set)
    duplicates: int = 0
    unexpected: int = 0
    ready: bool = False
    ended: bool = False
    error: str = ""


class Run:
    def __init__(self, config: dict) -> None:
        self.config = config
        self.host: str = config["host"]
        self.port: int = config["port"]
        self.pids: list[int] = config["server_pids"]
        self.subscribers: list[Subscriber] = []
        self.latencies = array.array("q")
        self.slowest: dict[int, int] = {}  # update number -> its slowest delivery (ns)
        self.delivered = 0
        self.last_delivery_ns = 0
        self.published_by_topic: dict[str, list[int]] = {}
        self.tasks: list[asyncio.Task] = []
        self.ready_count = 0
        self.settled = 0
        self.all_settled = asyncio.Event()
        self.payload_pad = "x" * max(0, config.get("payload_bytes", 120) - 60)

    # subscribing

    def subscribe_request(self, topic: str) -> bytes:
        path = self.config["subscribe_path"].format(topic=quote(topic, safe=""))
        return (
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
        ).encode()

    async def subscriber(self, sub: Subscriber, gate: asyncio.Semaphore, counted: bool = True) -> None:
        writer = None
        released = False
        await gate.acquire()
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.write(self.subscribe_request(sub.topic))
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            if status != 200:
                sub.error = f"HTTP {status}"
                return
            dechunker = Dechunker() if b"chunked" in head.lower() else None
            pending = b""
            latencies, seen, slowest = self.latencies, sub.seen, self.slowest
            while True:
                data = await reader.read(262144)
                now = time.monotonic_ns()
                if not data:
                    break
                if dechunker is not None:
                    data = dechunker.feed(data)
                if not sub.ready and data:
                    sub.ready = True
                    if counted:
                        self.ready_count += 1
                    gate.release()
                    released = True
                    self._settle()
                text = pending + data if pending else data
                cut = text.rfind(b"\n\n")
                if cut < 0:
                    pending = text
                    continue
                pending = text[cut + 2 :]
                for match in MARK.finditer(text, 0, cut):
                    n = int(match.group(1))
                    if n == 0 and counted:
                        continue  # the warm-up update, replayed by servers that keep history
                    if n in seen:
                        sub.duplicates += 1
                        continue
                    seen.add(n)
                    latency = now - int(match.group(2))
                    latencies.append(latency)
                    if latency > slowest.get(n, 0):
                        slowest[n] = latency
                    self.delivered += 1
                    self.last_delivery_ns = now
            sub.ended = True
        except asyncio.CancelledError:
            raise
        except Exception as error:
            sub.error = f"{type(error).__name__}: {error}"
            sub.ended = True
        finally:
            if not released:
                gate.release()
                self._settle()
            if writer is not None:
                writer.close()

    async def ws_subscriber(self, sub: Subscriber, gate: asyncio.Semaphore, counted: bool = True) -> None:
        """A subscriber over the hub's WebSocket: ready at its ``subscribed`` answer."""
        writer = None
        released = False
        await gate.acquire()
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            path = self.config["ws_path"]
            writer.write(WS_UPGRADE.format(path=path, host=self.host, port=self.port).encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            if status != 101:
                sub.error = f"HTTP {status}"
                return
            request = json.dumps({"type": "subscribe", "id": "s", "topics": [sub.topic]}).encode()
            writer.write(client_frame(OP_TEXT, request))
            frames = FrameReader()
            latencies, seen, slowest = self.latencies, sub.seen, self.slowest
            while True:
                data = await reader.read(262144)
                now = time.monotonic_ns()
                if not data:
                    break
                for opcode, payload in frames.feed(data):
                    if opcode == OP_PING:
                        writer.write(client_frame(OP_PONG, payload))
                        continue
                    if opcode == OP_CLOSE:
                        sub.error = f"closed {int.from_bytes(payload[:2], 'big')} {payload[2:].decode()}"
                        break
                    if not sub.ready:
                        if b'"subscribed"' not in payload:
                            sub.error = payload.decode()[:200]
                            return
                        sub.ready = True
                        if counted:
                            self.ready_count += 1
                        gate.release()
                        released = True
                        self._settle()
                        continue
                    for match in MARK.finditer(payload):
                        n = int(match.group(1))
                        if n == 0 and counted:
                            continue
                        if n in seen:
                            sub.duplicates += 1
                            continue
                        seen.add(n)
                        latency = now - int(match.group(2))
                        latencies.append(latency)
                        if latency > slowest.get(n, 0):
                            slowest[n] = latency
                        self.delivered += 1
                        self.last_delivery_ns = now
            sub.ended = True
        except asyncio.CancelledError:
            raise
        except Exception as error:
            sub.error = f"{type(error).__name__}: {error}"
            sub.ended = True
        finally:
            if not released:
                gate.release()
                self._settle()
            if writer is not None:
                writer.close()

    def subscribe_with(self) -> Callable[[Subscriber, asyncio.Semaphore, bool], Awaitable[None]]:
        return self.ws_subscriber if self.config.get("transport") == "ws" else self.subscriber

    def _settle(self) -> None:
        self.settled += 1
        if self.settled >= len(self.subscribers):
            self.all_settled.set()

    async def connect_all(self) -> dict:
        count = self.config["subscribers"]
        topics = self.config["topics"]
        # With several load processes, process k has subscribers k, k + P, k + 2P... of the run's.
        first, step = self.config.get("process_index", 0), self.config.get("processes", 1)
        self.subscribers = [Subscriber(topics[(first + i * step) % len(topics)]) for i in range(count)]
        gate = asyncio.Semaphore(self.config.get("connect_concurrency", 200))
        rss_before = rss_kb(self.pids)
        cpu_before = cpu_seconds(self.pids)
        started = time.monotonic()
        subscribe = self.subscribe_with()
        self.tasks = [asyncio.create_task(subscribe(sub, gate, True)) for sub in self.subscribers]
        try:
            await asyncio.wait_for(self.all_settled.wait(), self.config.get("connect_timeout", 120))
        except TimeoutError:
            pass
        connect_seconds = time.monotonic() - started
        await asyncio.sleep(1.0)  # let the server settle before reading its memory
        rss_after = rss_kb(self.pids)
        errors = sorted({sub.error for sub in self.subscribers if sub.error})
        return {
            "subscribers": count,
            "connected": self.ready_count,
            "connect_seconds": connect_seconds,
            "connect_cpu_s": cpu_seconds(self.pids) - cpu_before,
            "connect_errors": errors[:5],
            "rss_before_kb": rss_before,
            "rss_after_kb": rss_after,
            "rss_per_conn_kb": (rss_after - rss_before) / max(1, self.ready_count),
        }

    # publishing

    def body(self, n: int, topic: str) -> bytes:
        data = f'{{"message":"bench-{n}-{time.monotonic_ns()}","author":"bench","pad":"{self.payload_pad}"}}'
        if self.config.get("publish_body") == "raw":
            return data.encode()
        return f"topic={quote(topic, safe='')}&data={quote(data, safe='')}".encode()

    def publisher(self) -> Publisher:
        return Publisher(
            self.host,
            self.port,
            self.config["publish_path"],
            self.config.get("authorization"),
            raw=self.config.get("publish_body") == "raw",
        )

    async def warm_up(self) -> None:
        """One subscriber and one update through the server, so first-use costs stay out of the figures."""
        sub = Subscriber(WARMUP_TOPIC)
        gate = asyncio.Semaphore(1)
        self.subscribers = [sub]
        task = asyncio.create_task(self.subscribe_with()(sub, gate, False))
        await asyncio.wait_for(self.all_settled.wait(), 30)
        publisher = self.publisher()
        status, body = await publisher.post(self.body(0, WARMUP_TOPIC), WARMUP_TOPIC)
        if status >= 300:
            raise RuntimeError(f"warm-up publish answered {status}: {body[:200]!r}")
        deadline = time.monotonic() + 10
        while not sub.seen and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if not sub.seen:
            raise RuntimeError(f"warm-up update never arrived ({sub.error or 'no error'})")
        publisher.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        self.latencies = array.array("q")
        self.slowest = {}
        self.delivered = 0
        self.settled = 0
        self.all_settled = asyncio.Event()

    async def publish_one(self, publisher: Publisher, topic: str, rtts: list[float]) -> bool:
        """POST the next numbered update to ``topic``; records its round trip, True if accepted."""
        n = self.next_n()
        sent = time.monotonic()
        try:
            status, _ = await publisher.post(self.body(n, topic), topic)
        except (asyncio.IncompleteReadError, ConnectionError):
            status = 0
        rtts.append(time.monotonic() - sent)
        if status == 0 or status >= 300:
            return False
        self.published_by_topic.setdefault(topic, []).append(n)
        return True

    async def publish_paced(self, count: int, rate: float, topics: list[str]) -> dict:
        publisher = self.publisher()
        errors = 0
        rtts: list[float] = []
        started = time.monotonic()
        for i in range(count):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if not await self.publish_one(publisher, topics[i % len(topics)], rtts):
                errors += 1
        elapsed = time.monotonic() - started
        publisher.close()
        return {"published": count - errors, "publish_errors": errors, "publish_seconds": elapsed, "publish_rtts": rtts}

    async def publish_scheduled(self, count: int, rate: float, topics: list[str], connections: int) -> dict:
        """``count`` updates at ``rate``/s over ``connections`` keep-alive connections: update i is
        due at i / rate and goes out on connection i mod ``connections`` once that one is free,
        so a slow answer delays the next POSTs and shows as a publish rate under the target."""
        errors = 0
        rtts: list[float] = []
        started = time.monotonic()

        async def loop(first: int) -> None:
            nonlocal errors
            publisher = self.publisher()
            for i in range(first, count, connections):
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if not await self.publish_one(publisher, topics[i % len(topics)], rtts):
                    errors += 1
            publisher.close()

        await asyncio.gather(*(loop(k) for k in range(min(connections, count))))
        elapsed = time.monotonic() - started
        return {"published": count - errors, "publish_errors": errors, "publish_seconds": elapsed, "publish_rtts": rtts}

    async def sweep(self, result: dict) -> dict:
        """Paced publishing at each rate of ``rates`` for ``step_seconds``; after each step, the
        step's figures go to ``run.py`` (a ``step`` line) and it answers ``continue`` or ``stop``.
        Process 0 publishes; every process counts its own subscribers' deliveries."""
        config = self.config
        loop = asyncio.get_running_loop()
        for rate in config["rates"]:
            del self.latencies[:]  # in place: each subscriber holds these two
            self.slowest.clear()
            self.delivered = 0
            self.last_delivery_ns = 0
            self.published_by_topic = {}
            duplicates_before = sum(sub.duplicates for sub in self.subscribers)
            cpu_before = cpu_seconds(self.pids)
            own_before = own_cpu_seconds()
            started_ns = time.monotonic_ns()
            count = max(1, round(rate * config["step_seconds"]))
            if config.get("process_index", 0) == 0:
                published = await self.publish_scheduled(
                    count, rate, config["publish_topics"], config.get("publishers", 4)
                )
            else:
                published = {"published": 0, "publish_errors": 0, "publish_seconds": 0.0, "publish_rtts": []}
            published.pop("publish_rtts")
            await self.exchange_published()
            expected = self.expected()
            cpu_after, own_after = await self.drain(expected, config.get("quiet_seconds", 3.0))
            step_numbers = {topic: set(numbers) for topic, numbers in self.published_by_topic.items()}
            received = sum(len(sub.seen & step_numbers.get(sub.topic, set())) for sub in self.subscribers if sub.ready)
            emit(
                {
                    "event": "step",
                    "step": {
                        "rate": rate,
                        "target": count,
                        **published,
                        "expected": expected,
                        "delivered": self.delivered,
                        "lost": expected - received,
                        "duplicates": sum(sub.duplicates for sub in self.subscribers) - duplicates_before,
                        "server_cpu_before": cpu_before,
                        "server_cpu_at_last": cpu_after,
                        "started_ns": started_ns,
                        "last_delivery_ns": self.last_delivery_ns,
                        "loadgen_cpu_s": own_after - own_before,
                        "latencies_ns": self.latencies.tolist(),
                    },
                }
            )
            answer = await loop.run_in_executor(None, sys.stdin.readline)
            if answer.strip() != "continue":
                break
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        return result

    async def publish_max(self, duration: float, concurrency: int, topics: list[str]) -> dict:
        deadline = time.monotonic() + duration
        errors = 0
        rtts: list[float] = []

        async def loop(worker: int) -> None:
            nonlocal errors
            publisher = self.publisher()
            i = worker
            while time.monotonic() < deadline:
                if not await self.publish_one(publisher, topics[i % len(topics)], rtts):
                    errors += 1
                i += concurrency
            publisher.close()

        started = time.monotonic()
        await asyncio.gather(*(loop(w) for w in range(concurrency)))
        elapsed = time.monotonic() - started
        published = sum(len(ns) for ns in self.published_by_topic.values())
        return {"published": published, "publish_errors": errors, "publish_seconds": elapsed, "publish_rtts": rtts}

    _n = 0

    def next_n(self) -> int:
        """Update numbers unique across the run's load processes: this one's index, then every ``processes``-th."""
        self._n += 1
        return self.config.get("process_index", 0) + 1 + (self._n - 1) * self.config.get("processes", 1)

    async def exchange_published(self) -> None:
        """With several load processes: tell ``run.py`` what this one published, and take
        what all of them published (one JSON line on stdin), so that each knows what its
        subscribers should receive."""
        emit({"event": "published", "published_by_topic": self.published_by_topic})
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        self.published_by_topic = json.loads(line)

    def expected(self) -> int:
        return sum(len(self.published_by_topic.get(sub.topic, ())) for sub in self.subscribers if sub.ready)

    async def drain(self, expected: int, quiet_seconds: float) -> tuple[float, float]:
        """Wait until every expected event arrived or nothing arrived for ``quiet_seconds``.

        Returns the server CPU reading and the time at which the last delivery was seen.
        """
        last_count = -1
        cpu_at_last = cpu_seconds(self.pids)
        own_at_last = own_cpu_seconds()
        quiet_since = time.monotonic()
        while True:
            if self.delivered != last_count:
                last_count = self.delivered
                cpu_at_last = cpu_seconds(self.pids)
                own_at_last = own_cpu_seconds()
                quiet_since = time.monotonic()
            if self.delivered >= expected or time.monotonic() - quiet_since > quiet_seconds:
                return cpu_at_last, own_at_last
            await asyncio.sleep(0.02)

    async def execute(self) -> dict:
        config = self.config
        mode = config["mode"]
        emit({"event": "phase", "phase": "warm-up"})
        await self.warm_up()
        emit({"event": "phase", "phase": "connect"})
        result = await self.connect_all()
        gc.collect()
        gc.freeze()  # a collection over thousands of connections would pause the clock that measures latency
        gc.disable()
        emit(
            {
                "event": "phase",
                "phase": "connected",
                "connected": result["connected"],
                "seconds": round(result["connect_seconds"], 2),
            }
        )
        emit({"event": "ready"})
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if mode == "sweep":
            return await self.sweep(result)
        if mode == "idle":
            idle = config.get("idle_seconds", 10.0)
            cpu_before = cpu_seconds(self.pids)
            await asyncio.sleep(idle)
            result["idle_cpu_percent"] = 100 * (cpu_seconds(self.pids) - cpu_before) / idle
        cpu_before = cpu_seconds(self.pids)
        own_before = own_cpu_seconds()
        started_ns = time.monotonic_ns()
        topics = config["publish_topics"]
        if mode == "max" and config.get("publishers", 8) > 0:
            published = await self.publish_max(config["duration"], config.get("publishers", 8), topics)
        elif mode != "max" and config.get("process_index", 0) == 0:
            published = await self.publish_paced(config["updates"], config["rate"], topics)
        else:  # a load process that only subscribes
            published = {"published": 0, "publish_errors": 0, "publish_seconds": 0.0, "publish_rtts": []}
        emit({"event": "phase", "phase": "published"})
        if config.get("processes", 1) > 1:
            await self.exchange_published()
        expected = self.expected()
        cpu_after, own_after = await self.drain(expected, config.get("quiet_seconds", 5.0))
        emit({"event": "phase", "phase": "drained"})
        rtts = sorted(published.pop("publish_rtts"))
        deliver_seconds = max(1e-9, (self.last_delivery_ns - started_ns) / 1e9) if self.delivered else 0.0
        result.update(published)
        result.update(
            {
                "publishes_per_s": published["published"] / published["publish_seconds"]
                if published["publish_seconds"]
                else 0.0,
                "publish_rtt_ms_p50": 1000 * quantile(rtts, 0.5) if rtts else None,
                "publish_rtt_ms_p99": 1000 * quantile(rtts, 0.99) if rtts else None,
                "expected": expected,
                "delivered": self.delivered,
                "lost": expected
                - sum(
                    len(sub.seen & set(self.published_by_topic.get(sub.topic, ())))
                    for sub in self.subscribers
                    if sub.ready
                ),
                "duplicates": sum(sub.duplicates for sub in self.subscribers),
                "unexpected": sum(
                    len(sub.seen - set(self.published_by_topic.get(sub.topic, ()))) for sub in self.subscribers
                ),
                "ended_early": sum(1 for sub in self.subscribers if sub.ready and sub.ended),
                "server_cpu_s": cpu_after - cpu_before,
                "loadgen_cpu_s": own_after - own_before,
                "deliver_seconds": deliver_seconds,
                "events_per_s": self.delivered / deliver_seconds if deliver_seconds else 0.0,
            }
        )
        # Absolute readings, so that run.py can merge several load processes into one figure.
        result.update(
            {
                "server_cpu_before": cpu_before,
                "server_cpu_at_last": cpu_after,
                "started_ns": started_ns,
                "last_delivery_ns": self.last_delivery_ns,
            }
        )
        if config.get("processes", 1) > 1:
            result["latencies_ns"] = self.latencies.tolist()
            result["slowest_ns_by_update"] = self.slowest
        result["cpu_us_per_event"] = 1e6 * result["server_cpu_s"] / self.delivered if self.delivered else None
        result["loadgen_cpu_percent"] = 100 * result["loadgen_cpu_s"] / deliver_seconds if deliver_seconds else None
        latencies_ms = sorted(value / 1e6 for value in self.latencies)
        result["latency_ms"] = {
            "p50": quantile(latencies_ms, 0.5),
            "p99": quantile(latencies_ms, 0.99),
            "max": latencies_ms[-1] if latencies_ms else None,
        }
        if mode == "paced":
            result["slowest_delivery_ms_by_update"] = [round(self.slowest[n] / 1e6, 1) for n in sorted(self.slowest)]
        result["latency_quantiles_ms"] = [quantile(latencies_ms, i / 200) for i in range(201)] if latencies_ms else []
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        return result


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


def emit(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    config = json.loads(sys.argv[1])
    result = uvloop.run(Run(config).execute())
    emit({"event": "result", "result": result})


if __name__ == "__main__":
    main()
