"""The hub's channel layer, and sending a batch of group messages through it in one round trip.

The hub uses the layer ``HUBBUB_CHANNEL_LAYER`` names in ``CHANNEL_LAYERS``. A project
that configures none (a first install, one process) gets an in-memory layer of the hub's
own, sized for fan-out: every update of a process goes through one channel.

Channels' layer API sends one message per call, and channels_redis' pub/sub layer makes
each call its own Redis round trip, holding its connection lock until the reply comes.
The hub stores updates in batches (group commit), so on that layer it writes a batch's
PUBLISH commands as one pipeline: the same commands in the same order, one write and one
read. Receivers drop an update they already have (by sequence number), so a pipeline
that redis-py retries after a broken connection cannot deliver anything twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from . import _conf as conf

if TYPE_CHECKING:
    from channels_redis.pubsub import RedisPubSubChannelLayer

_own_layer: InMemoryChannelLayer | None = None


def channel_layer() -> BaseChannelLayer:
    """The layer the hub fans out through (the same object on every call in a process)."""
    alias = conf.get("HUBBUB_CHANNEL_LAYER")
    if alias in getattr(settings, "CHANNEL_LAYERS", {}):
        layer = get_channel_layer(alias)
        assert layer is not None
        return layer
    global _own_layer
    if _own_layer is None:
        # Group memberships must not expire while subscribers stay connected.
        _own_layer = InMemoryChannelLayer(capacity=100_000, group_expiry=10 * 365 * 24 * 3600)
    return _own_layer


def is_local(layer: BaseChannelLayer) -> bool:
    """Whether the layer reaches only this process (no other process can deliver through it)."""
    return isinstance(layer, InMemoryChannelLayer)


def pipelines(layer: object) -> bool:
    """Whether ``group_send_pipelined`` works on this layer (channels_redis' pub/sub layer,
    imported only when it is the configured one)."""
    if not type(layer).__module__.startswith("channels_redis."):
        return False
    from channels_redis.pubsub import RedisPubSubChannelLayer

    return isinstance(layer, RedisPubSubChannelLayer)


async def group_send_pipelined(layer: RedisPubSubChannelLayer, messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Send each ``(group, message)`` in order, one pipeline per Redis shard.

    A message object listed for several groups is serialized once. Raises what redis-py
    raises if Redis fails; the messages of a failed pipeline may or may not have gone out.
    """
    loop_layer = layer._get_layer()
    encoded: dict[int, bytes] = {}
    by_shard: dict[Any, list[tuple[str, bytes]]] = {}
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
