"""CPU per message that channels_redis' pub/sub layer reads back from Redis.

    .venv/bin/python bench/pubsub_receive.py     # needs Redis on 127.0.0.1:6379

One channel in one group; 20,000 hub-sized messages are published in pipelines of 100 from a
second connection, first to a group nobody is in, then to the channel's group while the
channel receives them. The difference in this process's CPU per message is what receiving
costs: redis-py's `get_message`, channels_redis' queues, msgpack.
"""

from __future__ import annotations

import asyncio
import resource
import uuid

import redis.asyncio as aioredis
import uvloop
from channels_redis.pubsub import RedisPubSubChannelLayer

REDIS_URL = "redis://127.0.0.1:6379/0"
MESSAGES = 20_000


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main() -> None:
    prefix = f"hubbub-bench-{uuid.uuid4().hex[:8]}"
    layer = RedisPubSubChannelLayer(hosts=[REDIS_URL], prefix=prefix)
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    publisher = aioredis.Redis.from_url(REDIS_URL)
    data = layer.serialize(
        {
            "type": "hubbub.update",
            "seq": 1,
            "update": {"topics": ["/rooms/1"], "data": "x" * 40, "id": uuid.uuid4().hex},
        }
    )

    async def publish_all(group: str) -> None:
        for _ in range(0, MESSAGES, 100):
            async with publisher.pipeline(transaction=False) as pipe:
                for _ in range(100):
                    pipe.publish(f"{prefix}__group__{group}", data)
                await pipe.execute()
            await asyncio.sleep(0.005)

    async def drain() -> None:
        while True:
            try:
                await asyncio.wait_for(layer.receive(channel), 0.5)
            except TimeoutError:
                return

    try:
        await asyncio.sleep(0.2)
        used = cpu()
        await publish_all("nobody")
        publishing = (cpu() - used) / MESSAGES
        await drain()
        used = cpu()
        producer = asyncio.create_task(publish_all("room"))
        for _ in range(MESSAGES):
            await layer.receive(channel)
        both = (cpu() - used) / MESSAGES
        await producer
        print(
            f"publishing only: {1e6 * publishing:.1f} µs/message; publishing and receiving: {1e6 * both:.1f} µs/message"
        )
        print(f"receiving costs about {1e6 * (both - publishing):.1f} µs of CPU per message")
    finally:
        await layer.flush()
        await publisher.aclose()


if __name__ == "__main__":
    uvloop.run(main())
