"""The load generator's hand-written HTTP parsing: a wrong parser would make every figure wrong.

Run: ``.venv/bin/pytest bench/test_loadgen.py -q`` (not part of ``tests/``: the suite itself
is never a timed assertion).
"""

from __future__ import annotations

import asyncio
import os

from bench.loadgen import (
    MARK,
    OP_TEXT,
    Dechunker,
    FrameReader,
    Publisher,
    Run,
    client_frame,
    cpu_seconds,
    read_response,
    rss_kb,
)

EVENTS = [
    b"retry: 3000\n\n",
    b'id: 1\ndata: {"message":"bench-7-123"}\n\n',
    b": heartbeat\n\n",
    b"data: bench-8-456\n\n",
]


def chunked(parts: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def test_dechunker_reassembles_the_payload_whatever_the_read_boundaries() -> None:
    wire = chunked(EVENTS)
    for split in range(1, len(wire)):
        dechunker = Dechunker()
        payload = dechunker.feed(wire[:split]) + dechunker.feed(wire[split:])
        assert payload == b"".join(EVENTS), split
        assert dechunker.done


def test_dechunker_one_byte_at_a_time() -> None:
    dechunker = Dechunker()
    payload = b"".join(dechunker.feed(bytes([byte])) for byte in chunked(EVENTS))
    assert payload == b"".join(EVENTS)
    assert dechunker.done


def test_marker_gives_update_number_and_timestamp() -> None:
    found = [(int(m.group(1)), int(m.group(2))) for m in MARK.finditer(b"".join(EVENTS))]
    assert found == [(7, 123), (8, 456)]


async def response(raw: bytes) -> tuple[int, bytes]:
    reader = asyncio.StreamReader()
    reader.feed_data(raw)
    reader.feed_eof()
    return await read_response(reader)


async def test_read_response_with_content_length() -> None:
    raw = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nurn:1"
    assert await response(raw) == (200, b"urn:1")


async def test_read_response_chunked() -> None:
    raw = b"HTTP/1.1 401 Unauthorized\r\ntransfer-encoding: chunked\r\n\r\n" + chunked([b"missing ", b"token\n"])
    assert await response(raw) == (401, b"missing token\n")


async def test_keep_alive_responses_in_a_row_whatever_the_arrival() -> None:
    first = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunked([b"urn:1"])
    second = b"HTTP/1.1 201 Created\r\ncontent-length: 5\r\n\r\nurn:2"
    reader = asyncio.StreamReader()

    async def arrive() -> None:
        reader.feed_data(first[:-2])
        await asyncio.sleep(0.01)
        reader.feed_data(first[-2:] + second)

    feeding = asyncio.ensure_future(arrive())
    assert await read_response(reader) == (200, b"urn:1")
    assert await read_response(reader) == (201, b"urn:2")
    await feeding


def test_proc_readings_of_this_process() -> None:
    sum(range(2_000_000))
    assert cpu_seconds([os.getpid()]) > 0
    assert rss_kb([os.getpid()]) > 1000


def test_frame_reader_splits_frames_of_every_length_whatever_the_read_boundaries() -> None:
    payloads = [b'{"type":"subscribed","id":"s"}', b"bench-7-123" * 20, b"x" * 70_000, b""]
    wire = b""
    for payload in payloads:
        length = len(payload)
        if length < 126:
            wire += bytes([0x81, length]) + payload
        elif length < 65536:
            wire += bytes([0x81, 126]) + length.to_bytes(2, "big") + payload
        else:
            wire += bytes([0x81, 127]) + length.to_bytes(8, "big") + payload
    for split in (1, 2, 3, 5, 40, 300, len(wire) - 1):
        reader = FrameReader()
        frames = reader.feed(wire[:split]) + reader.feed(wire[split:])
        assert frames == [(OP_TEXT, payload) for payload in payloads], split
        assert reader.buffer == b""


def test_client_frames_are_masked_with_the_length_encoded() -> None:
    for length, header in ((5, 2), (200, 4), (70_000, 10)):
        frame = client_frame(OP_TEXT, b"a" * length)
        assert frame[0] == 0x81 and frame[1] & 0x80  # final, text; masked
        assert frame[header : header + 4] == b"\x00\x00\x00\x00"
        assert frame[header + 4 :] == b"a" * length


def test_raw_publisher_posts_the_data_alone_to_the_topics_path() -> None:
    raw = Publisher("127.0.0.1", 8080, "/pub/{topic}", None, raw=True)
    assert raw.head("room 1").startswith(b"POST /pub/room%201 HTTP/1.1\r\n")
    assert b"Content-Type: text/plain\r\n" in raw.head("room 1")
    form = Publisher("127.0.0.1", 8080, "/.well-known/mercure", "token")
    assert form.head("room-1").startswith(b"POST /.well-known/mercure HTTP/1.1\r\n")
    assert b"Authorization: Bearer token\r\n" in form.head("room-1")
    base = {"host": "h", "port": 1, "server_pids": [], "subscribe_path": "/", "publish_path": "/"}
    assert Run({**base, "publish_body": "raw"}).body(3, "room-1").startswith(b'{"message":"bench-3-')
    assert Run(base).body(3, "room-1").startswith(b"topic=room-1&data=%7B%22message%22%3A%22bench-3-")


def test_update_numbers_are_unique_across_load_processes() -> None:
    base = {"host": "h", "port": 1, "server_pids": [], "subscribe_path": "/", "publish_path": "/", "processes": 3}
    numbers = [Run({**base, "process_index": k}) for k in range(3)]
    drawn = [run.next_n() for _ in range(50) for run in numbers]
    assert len(set(drawn)) == len(drawn) and 0 not in drawn
