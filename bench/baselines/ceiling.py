"""The ceiling: pre-encoded bytes fanned out to asyncio queues, with no framework in the way.

``GET /events?topic=T`` streams, ``POST /publish`` (form: ``topic``, ``data``) encodes the
event once and puts the same bytes on every queue of that topic.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

queues: dict[str, set[asyncio.Queue[bytes]]] = {}


async def events(request: Request) -> StreamingResponse:
    topic = request.query_params["topic"]
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def stream():
        queues.setdefault(topic, set()).add(queue)
        try:
            yield b": subscribed\n\n"
            while True:
                yield await queue.get()
        finally:
            queues[topic].discard(queue)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


async def publish(request: Request) -> PlainTextResponse:
    form = parse_qs((await request.body()).decode())
    chunk = f"data: {form['data'][0]}\n\n".encode()
    for topic in form["topic"]:
        for queue in queues.get(topic, ()):
            queue.put_nowait(chunk)
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/events", events), Route("/publish", publish, methods=["POST"])])
