"""CPU per update that every worker pays to receive the deployment's updates, by batch size.

    .venv/bin/python bench/worker_receive.py     # needs Redis on 127.0.0.1:6379

Every worker of a deployment receives every update, including those none of its own
subscribers want: that cost is paid once per worker, so it is what grows with the number
of workers. This runs the hub's own receiving path (``hubbub._links.RedisPubSubLink`` into
``hubbub._fanout.Fanout``) in this process, first with 100 local subscribers on a topic no
update has (the floor every worker pays), then on one topic of eight (written to a
transport that takes everything, as direct writes do), and publishes
20,000 updates round-robin over the eight topics from a second Redis connection, as the
hub's publishers do: batches of 1, 8 and 32 updates, each batch one message
(``hubbub._fanout.messages_for``). A batch of 1 is what every update cost before issue 12,
whatever the group commit had stored together. It prints this process's CPU per update
received (publishing the same messages to a channel nobody reads is timed first, and
taken off).
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import uuid
from pathlib import Path

import django
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

REDIS_URL = "redis://127.0.0.1:6379/0"
UPDATES = 20_000
TOPICS = 8
SUBSCRIBERS = 100


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Transport:
    """A connection that takes everything written to it at once."""

    def write(self, data: bytes) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


async def measure(batch: int, topic: str) -> tuple[float, float]:
    import redis.asyncio as aioredis
    from channels_redis.pubsub import RedisPubSubChannelLayer

    from hubbub import _fanout as fanout, _history as history
    from hubbub._selectors import SelectorSet
    from hubbub._subscriptions import Subscription
    from hubbub._updates import Update

    layer = RedisPubSubChannelLayer(hosts=[REDIS_URL], prefix=f"hubbub-bench-{uuid.uuid4().hex[:8]}")
    hub = fanout.Fanout(asyncio.get_running_loop())
    hub.layer = layer
    history.newest_seq = lambda: 0  # no history here: the fan-out starts from 0
    for _ in range(SUBSCRIBERS):
        subscription = Subscription(SelectorSet([topic]), SelectorSet(), 100)
        subscription.attach(_Transport())  # type: ignore[arg-type]
        await hub.add(subscription)
    group = fanout.all_group()
    publisher = aioredis.Redis.from_url(REDIS_URL)
    channel = layer._get_layer()._get_group_channel_name(group)
    updates = [Update.create(f"/rooms/{n % TOPICS}", "x" * 40) for n in range(UPDATES)]
    payloads = [
        layer.serialize(message)
        for start in range(0, UPDATES, batch)
        for message in fanout.messages_for(
            history.Batch([(start + n + 1, u) for n, u in enumerate(updates[start : start + batch])])
        )
    ]

    async def publish_all(to: str) -> None:
        for start in range(0, len(payloads), 100):
            async with publisher.pipeline(transaction=False) as pipe:
                for payload in payloads[start : start + 100]:
                    pipe.publish(to, payload)
                await pipe.execute()

    try:
        await asyncio.sleep(0.2)
        used = cpu()
        await publish_all(channel + ".nobody")
        publishing = cpu() - used
        used = cpu()
        await publish_all(channel)
        async with asyncio.timeout(60):
            while hub.last_seq < UPDATES:
                await asyncio.sleep(0.01)
        receiving = cpu() - used - publishing
    finally:
        if hub.link is not None:
            await hub.link.close()
        await publisher.aclose()
    return receiving / UPDATES, hub.delivered


def main() -> None:
    django.setup()
    from django.conf import settings

    settings.CHANNEL_LAYERS = {}
    for topic, wanted in (("/elsewhere", "no local subscriber wants them"), ("/rooms/0", "")):
        for batch in (1, 8, 32):
            per_update, delivered = uvloop.run(measure(batch, topic))
            print(
                f"batches of {batch:2d}: {1e6 * per_update:5.1f} µs CPU per update received; "
                + (wanted or f"{delivered:,} deliveries ({SUBSCRIBERS} local subscribers on 1 topic of {TOPICS})")
            )


if __name__ == "__main__":
    main()
