"""A worker's link to the channel layer: receiving the hub's messages, and knowing when it broke.

The fan-out of a worker receives every update of the deployment through one group, in the
order they were stored. What matters as much as receiving is knowing when messages may
have been lost: a channel layer that reconnects silently (channels_redis' pub/sub layer
logs the error, reconnects and resubscribes) drops what was published meanwhile, and the
worker's subscribers would go on with a gap. So a link reports its own death, once, and
is not reused: the fan-out disconnects its subscribers (they resume from the history) and
opens a new link for the next subscriber.

- ``RedisPubSubLink`` reads channels_redis' pub/sub layer's group channels on a Redis
  connection of its own: a read error is the end of the link, at once, and a read blocks
  without polling.
- ``LayerLink`` serves any other channel layer through its public API (``receive`` on a
  channel of its own).

Both send a probe through their own group on every heartbeat: a probe that has not come
back by the next one ends the link (a stalled server, a forgotten group membership).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

from channels.layers import BaseChannelLayer

from . import _layers as layers
from ._background import in_background

logger = logging.getLogger(__name__)

PROBE_TYPE = "hubbub.probe"
SEND_TIMEOUT = 2.0  # seconds a message may take to reach the channel layer

OnMessage = Callable[[dict[str, Any]], None]
OnLost = Callable[[str], None]


class LinkUnavailable(Exception):
    """The channel layer could not be reached to open a link."""


class Link:
    """What the fan-out needs of a link; subclasses implement ``_open``, ``_run`` and ``_close``."""

    def __init__(self, layer: BaseChannelLayer, groups: list[str], on_message: OnMessage, on_lost: OnLost) -> None:
        self.layer = layer
        self.groups = groups
        self.on_message = on_message
        self.on_lost = on_lost
        self.alive = False
        self.probe_group = layers.group(f"probe.{uuid.uuid4().hex[:16]}")
        self._probe_out = False
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Subscribe to the groups; returns once messages sent to them from now on will arrive."""
        try:
            await self._open()
        except Exception as error:
            await self._close()
            raise LinkUnavailable(str(error) or type(error).__name__) from error
        self.alive = True
        self._task = asyncio.get_running_loop().create_task(self._read(), name="hubbub-link")

    async def _read(self) -> None:
        try:
            await self._run()
            reason = "the channel layer closed the link"
        except asyncio.CancelledError:
            return
        except Exception as error:
            reason = f"the link to the channel layer broke ({type(error).__name__}: {error})"
        await self.lose(reason)

    async def lose(self, reason: str) -> None:
        """End the link and report it, once."""
        if not self.alive:
            return
        self.alive = False
        logger.warning("hubbub: %s; this worker's subscribers resume from the history", reason)
        self.on_lost(reason)
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        await self._close()

    async def close(self) -> None:
        """End the link quietly (nobody uses it any more)."""
        self.alive = False
        if self._task is not None:
            self._task.cancel()
        await self._close()

    def deliver(self, message: dict[str, Any]) -> None:
        if message.get("type") == PROBE_TYPE:
            self._probe_out = False
            return
        self.on_message(message)

    async def probe(self) -> None:
        """Check the round trip; called on each heartbeat while the link is in use."""
        if not self.alive:
            return
        if self._probe_out:
            await self.lose("the channel layer did not return a probe within a heartbeat")
            return
        self._probe_out = True
        try:
            # Bounded: a send stuck on a server that stopped answering would also hold the
            # layer's connection, and every later publish with it, until TCP gives up.
            async with asyncio.timeout(SEND_TIMEOUT):
                await self.layer.group_send(self.probe_group, {"type": PROBE_TYPE})
        except Exception as error:
            await self.lose(f"the channel layer is unreachable ({type(error).__name__}: {error})")

    async def _open(self) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError


class LayerLink(Link):
    """A link over any channel layer's public API: a channel of its own in each group."""

    channel: str | None = None

    async def _open(self) -> None:
        self.channel = await self.layer.new_channel(prefix="hubbub.")
        for group in [*self.groups, self.probe_group]:
            await self.layer.group_add(group, self.channel)
        expiry = getattr(self.layer, "group_expiry", None)
        self._renewal = asyncio.get_running_loop().call_later(expiry / 2, self._renew, expiry) if expiry else None

    def _renew(self, expiry: float) -> None:
        """Join the groups again before the layer forgets the memberships (after ``group_expiry``)."""

        async def renew() -> None:
            try:
                for group in [*self.groups, self.probe_group]:
                    await self.layer.group_add(group, self.channel)
            except Exception as error:
                await self.lose(f"the channel layer is unreachable ({type(error).__name__}: {error})")

        if self.alive:
            in_background(renew())
            self._renewal = asyncio.get_running_loop().call_later(expiry / 2, self._renew, expiry)

    async def _run(self) -> None:
        assert self.channel is not None
        while True:
            self.deliver(await self.layer.receive(self.channel))

    async def _close(self) -> None:
        renewal = getattr(self, "_renewal", None)
        if renewal is not None:
            renewal.cancel()
        if self.channel is None:
            return
        for group in [*self.groups, self.probe_group]:
            try:
                await self.layer.group_discard(group, self.channel)
            except Exception:
                break  # the layer is gone; so are the memberships, or they expire


class RedisPubSubLink(Link):
    """A link that reads channels_redis' pub/sub layer's group channels itself (see the module's docstring)."""

    def __init__(self, layer: BaseChannelLayer, groups: list[str], on_message: OnMessage, on_lost: OnLost) -> None:
        super().__init__(layer, groups, on_message, on_lost)
        self._clients: list[Any] = []
        self._readers: list[Any] = []

    async def _open(self) -> None:
        from channels_redis.utils import create_pool
        from redis import asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        loop_layer: Any = self.layer._get_layer()
        by_shard: dict[int, list[str]] = {}
        for group in [*self.groups, self.probe_group]:
            channel = loop_layer._get_group_channel_name(group)
            shard = loop_layer._shards.index(loop_layer._get_shard(channel))
            by_shard.setdefault(shard, []).append(channel)
        for shard, channels in by_shard.items():
            # No silent retry: redis-py would reconnect and resubscribe, losing what was
            # published meanwhile without the fan-out knowing.
            host = {**loop_layer._shards[shard].host, "retry": Retry(NoBackoff(), 0)}
            client = aioredis.Redis(connection_pool=create_pool(host))
            self._clients.append(client)
            pubsub = client.pubsub()
            self._readers.append(pubsub)
            await pubsub.subscribe(*channels)
            confirmed = 0
            async with asyncio.timeout(10):
                while confirmed < len(channels):
                    reply = await pubsub.get_message(timeout=None)
                    if reply is not None and reply["type"] == "subscribe":
                        confirmed += 1

    async def _run(self) -> None:
        if len(self._readers) == 1:
            await self._read_shard(self._readers[0])
            return
        async with asyncio.TaskGroup() as group:
            for reader in self._readers:
                group.create_task(self._read_shard(reader))

    async def _read_shard(self, pubsub: Any) -> None:
        deserialize = self.layer.deserialize
        while True:
            reply = await pubsub.get_message(timeout=None)
            if reply is None or reply["type"] != "message":
                continue
            self.deliver(deserialize(reply["data"]))

    async def _close(self) -> None:
        readers, self._readers = self._readers, []
        clients, self._clients = self._clients, []
        try:
            async with asyncio.timeout(2):  # a stalled server must not hold the fan-out
                for pubsub in readers:
                    await pubsub.aclose()
                for client in clients:
                    await client.aclose(close_connection_pool=True)
        except Exception:
            logger.debug("hubbub: closing a broken link", exc_info=True)


def open_link(layer: BaseChannelLayer, groups: list[str], on_message: OnMessage, on_lost: OnLost) -> Link:
    """The kind of link that suits ``layer`` (not yet open)."""
    kind = RedisPubSubLink if layers.pipelines(layer) else LayerLink
    return kind(layer, groups, on_message, on_lost)
