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

import hashlib
import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

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


_PLAIN_PREFIX = re.compile(r"[A-Za-z0-9_\-.]{1,40}")


def group(name: str) -> str:
    """A channel-layer group of this deployment's hub (``all``, ``control``, ...).

    Its name carries ``HUBBUB_REDIS_PREFIX``: Redis pub/sub channels ignore the Redis
    database number, so two deployments on one server would otherwise share every group.
    """
    prefix: str = conf.get("HUBBUB_REDIS_PREFIX")
    if not _PLAIN_PREFIX.fullmatch(prefix):
        prefix = hashlib.blake2b(prefix.encode(), digest_size=8).hexdigest()
    return f"hubbub.{prefix}.{name}"


def deployment_prefix() -> str:
    """The default ``HUBBUB_REDIS_PREFIX``: what tells this deployment apart from others on the
    same Redis server, namely the Redis database numbers of its channel layer and the history
    database (engine, name, host, port). Every worker of a deployment has the same settings,
    so they agree on it without being told."""
    from django.db import router

    from .models import StoredUpdate

    database = settings.DATABASES.get(router.db_for_write(StoredUpdate), {})
    identity = {
        "redis": redis_databases(),
        "history": [str(database.get(key) or "") for key in ("ENGINE", "NAME", "HOST", "PORT")],
    }
    return hashlib.blake2b(json.dumps(identity, sort_keys=True).encode(), digest_size=6).hexdigest()


def redis_databases() -> list[int] | None:
    """The Redis database numbers in the hub's channel layer's ``hosts``; None when the layer
    is not configured with hosts this can read (no Redis, a custom layer, Sentinel)."""
    config = getattr(settings, "CHANNEL_LAYERS", {}).get(conf.get("HUBBUB_CHANNEL_LAYER"))
    if not config or "hosts" not in config.get("CONFIG", {}):
        return None
    numbers = []
    for host in config["CONFIG"]["hosts"]:
        if isinstance(host, (tuple, list)):
            numbers.append(0)
        elif isinstance(host, str):
            numbers.append(_url_database(host))
        elif isinstance(host, dict) and "address" in host:
            numbers.append(int(host.get("db", _url_database(str(host["address"])))))
        elif isinstance(host, dict) and "master_name" not in host:
            numbers.append(int(host.get("db", 0)))
        else:
            return None
    return numbers


def _url_database(url: str) -> int:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if "db" in query:
        return int(query["db"][0])
    path = parts.path.strip("/")
    return int(path) if path.isdigit() else 0


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
