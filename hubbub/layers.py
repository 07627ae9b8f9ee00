"""Sending a batch of group messages through the channel layer in one round trip.

Channels' layer API sends one message per call, and channels_redis' pub/sub layer makes
each call its own Redis round trip, holding its connection lock until the reply comes.
The hub stores updates in batches (group commit), so on that layer it writes a batch's
PUBLISH commands as one pipeline: the same commands in the same order, one write and one
read. Receivers drop an update they already have (by sequence number), so a pipeline
that redis-py retries after a broken connection cannot deliver anything twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisSingleShardConnection


def pipelines(layer: object) -> bool:
    """Whether ``group_send_pipelined`` works on this layer."""
    return isinstance(layer, RedisPubSubChannelLayer)


async def group_send_pipelined(layer: RedisPubSubChannelLayer, messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Send each ``(group, message)`` in order, one pipeline per Redis shard.

    A message object listed for several groups is serialized once. Raises what redis-py
    raises if Redis fails; the messages of a failed pipeline may or may not have gone out.
    """
    loop_layer = layer._get_layer()
    encoded: dict[int, bytes] = {}
    by_shard: dict[RedisSingleShardConnection, list[tuple[str, bytes]]] = {}
    for group, message in messages:
        data = encoded.get(id(message))
        if data is None:
            data = encoded[id(message)] = layer.serialize(message)
        channel = loop_layer._get_group_channel_name(group)
        by_shard.setdefault(loop_layer._get_shard(channel), []).append((channel, data))
    for shard, items in by_shard.items():
        async with shard._lock:
            shard._ensure_redis()
            async with shard._redis.pipeline(transaction=False) as pipe:
                for channel, data in items:
                    pipe.publish(channel, data)
                await pipe.execute()
