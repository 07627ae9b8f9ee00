"""Per-process fan-out: one channel-layer membership per topic, local delivery to subscribers.

Each event loop that serves subscribers owns one ``Fanout``. It holds a single
channel-layer channel and joins the group of every topic some local subscriber asked
for by name; subscribers with ``*`` or URI-template selectors need every update, so
the process joins the ``hubbub.all`` group while it has one. An update arrives once
per group it was sent to and is delivered once: encoded a single time, then pushed as
the same bytes to every local subscriber that wants it.

Every fan-out is also in the ``hubbub.control`` group, which carries requests to close the
streams a session user opened when what that user may read has changed (``reauthorize``).

Layers that forget a group membership after ``group_expiry`` seconds (Channels' in-memory
layer, channels_redis' core layer: a day by default) get every membership renewed each
half of that, so that a subscriber connected for days keeps receiving.

With each heartbeat the fan-out also sends a probe to its own channel. A probe that has
not come back by the next heartbeat means the link to the channel layer broke (a
channel layer may reconnect silently, losing what was sent meanwhile), so every local
subscriber is disconnected to resume from history, here or on another worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from collections import Counter, OrderedDict
from typing import Any

from . import _conf as conf, _layers as layers
from ._subscriptions import Subscription
from ._updates import Update

logger = logging.getLogger(__name__)

ALL_GROUP = "hubbub.all"
CONTROL_GROUP = "hubbub.control"
MESSAGE_TYPE = "hubbub.update"
PROBE_TYPE = "hubbub.probe"
REAUTHORIZE_TYPE = "hubbub.reauthorize"
_RECENT = 4096

_fanouts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Fanout] = weakref.WeakKeyDictionary()


def topic_group(topic: str) -> str:
    """The channel-layer group of a topic (group names allow only a few ASCII characters)."""
    return "hubbub.t." + hashlib.blake2b(topic.encode(), digest_size=16).hexdigest()


def groups_for(update: Update) -> list[str]:
    return [topic_group(topic) for topic in update.topics] + [ALL_GROUP]


def message_for(update: Update, seq: int) -> dict[str, Any]:
    return {"type": MESSAGE_TYPE, "seq": seq, "update": update.as_message()}


def current() -> Fanout:
    """The fan-out of the running event loop, created on first use."""
    loop = asyncio.get_running_loop()
    fanout = _fanouts.get(loop)
    if fanout is None:
        fanout = _fanouts[loop] = Fanout(loop)
    return fanout


def serving_loop() -> asyncio.AbstractEventLoop | None:
    """A running loop of this process that has a fan-out, if any (for publishers in threads)."""
    for loop in list(_fanouts):
        if loop.is_running() and not loop.is_closed():
            return loop
    return None


class Fanout:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.layer = layers.channel_layer()
        self.channel: str | None = None
        self.subscriptions: set[Subscription] = set()
        self.by_topic: dict[str, set[Subscription]] = {}
        self.broad: set[Subscription] = set()
        self.by_user: dict[str, set[Subscription]] = {}
        self.memberships: Counter[str] = Counter()
        self.delivered = 0
        self._lock = asyncio.Lock()
        self._receiver: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.TimerHandle | None = None
        self._renewal: asyncio.TimerHandle | None = None
        self._probe_out = False
        self._recent: OrderedDict[int, None] = OrderedDict()

    async def add(self, subscription: Subscription) -> None:
        """Register a subscription; returns once its updates are routed to this process."""
        groups = self._groups_of(subscription)
        async with self._lock:
            if self.channel is None:
                channel = await self.layer.new_channel(prefix="hubbub.")
                await self.layer.group_add(CONTROL_GROUP, channel)
                self.channel = channel
                self._receiver = self.loop.create_task(self._receive(), name="hubbub-fanout")
                self._arm_renewal()
            joined: list[str] = []
            try:
                for group in groups:
                    if self.memberships[group] == 0:
                        await self.layer.group_add(group, self.channel)
                    self.memberships[group] += 1
                    joined.append(group)
            except BaseException:
                await self._leave(joined)
                raise
        self.subscriptions.add(subscription)
        if subscription.selectors.needs_every_topic:
            self.broad.add(subscription)
        for topic in subscription.selectors.exact:
            self.by_topic.setdefault(topic, set()).add(subscription)
        if subscription.user is not None:
            self.by_user.setdefault(subscription.user, set()).add(subscription)
        if self._heartbeat is None:
            self._arm_heartbeat()

    async def remove(self, subscription: Subscription) -> None:
        if subscription not in self.subscriptions:
            return
        self.subscriptions.discard(subscription)
        self.broad.discard(subscription)
        for topic in subscription.selectors.exact:
            subscribers = self.by_topic.get(topic)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self.by_topic[topic]
        if subscription.user is not None:
            streams = self.by_user.get(subscription.user)
            if streams is not None:
                streams.discard(subscription)
                if not streams:
                    del self.by_user[subscription.user]
        async with self._lock:
            await self._leave(self._groups_of(subscription))
        if not self.subscriptions and self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None

    def close_all(self, reason: str) -> None:
        for subscription in list(self.subscriptions):
            subscription.close(reason)

    def close_user(self, user: str) -> int:
        """Close the streams that ``user``'s session authorized here; they reconnect and are authorized anew."""
        streams = list(self.by_user.get(user, ()))
        for subscription in streams:
            subscription.close("the user's authorization changed")
        return len(streams)

    async def _leave(self, groups: list[str]) -> None:
        for group in groups:
            self.memberships[group] -= 1
            if self.memberships[group] <= 0:
                del self.memberships[group]
                try:
                    await self.layer.group_discard(group, self.channel)
                except Exception:
                    logger.warning("hubbub: could not leave channel-layer group %s", group, exc_info=True)

    @staticmethod
    def _groups_of(subscription: Subscription) -> list[str]:
        groups = [topic_group(topic) for topic in subscription.selectors.exact]
        if subscription.selectors.needs_every_topic:
            groups.append(ALL_GROUP)
        return groups

    async def _receive(self) -> None:
        assert self.channel is not None
        while True:
            message = await self.layer.receive(self.channel)
            try:
                if message.get("type") == MESSAGE_TYPE:
                    self.dispatch(Update.from_message(message["update"]), message["seq"])
                elif message.get("type") == PROBE_TYPE:
                    self._probe_out = False
                elif message.get("type") == REAUTHORIZE_TYPE:
                    self.close_user(message["user"])
            except Exception:
                logger.exception("hubbub: could not dispatch a channel-layer message")

    def dispatch(self, update: Update, seq: int) -> int:
        """Deliver one update to every local subscriber that wants it; returns how many."""
        recent = self._recent
        if seq in recent:
            return 0
        recent[seq] = None
        if len(recent) > _RECENT:
            recent.popitem(last=False)
        targets: set[Subscription] | list[Subscription]
        if len(update.topics) == 1:
            exact = self.by_topic.get(update.topics[0], ())
            targets = [s for s in exact if s.may_read(update)] if update.private else list(exact)
        else:
            targets = set()
            for topic in update.topics:
                targets.update(self.by_topic.get(topic, ()))
            if update.private:
                targets = [s for s in targets if s.may_read(update)]
        broad = [s for s in self.broad if s.wants(update)] if self.broad else ()
        if not targets and not broad:
            return 0
        chunk = update.encode()
        count = 0
        for subscription in targets:
            subscription.push(seq, chunk)
            count += 1
        for subscription in broad:
            if subscription.selectors.exact.isdisjoint(update.topics):
                subscription.push(seq, chunk)
                count += 1
        self.delivered += count
        return count

    def _arm_renewal(self) -> None:
        expiry = getattr(self.layer, "group_expiry", None)
        if expiry:
            self._renewal = self.loop.call_later(expiry / 2, lambda: self.loop.create_task(self._renew()))

    async def _renew(self) -> None:
        """Join again every group this process is in: it restarts the layer's expiry clock."""
        async with self._lock:
            for group in [CONTROL_GROUP, *self.memberships]:
                try:
                    await self.layer.group_add(group, self.channel)
                except Exception:
                    logger.warning("hubbub: could not renew channel-layer group %s", group, exc_info=True)
        self._arm_renewal()

    def _arm_heartbeat(self) -> None:
        self._heartbeat = self.loop.call_later(conf.get("HUBBUB_HEARTBEAT_SECONDS"), self._beat)

    def _beat(self) -> None:
        self._heartbeat = None
        if self._probe_out:
            logger.warning("hubbub: the channel layer did not answer a probe; disconnecting local subscribers")
            self.close_all("channel layer unreachable")
        for subscription in self.subscriptions:
            subscription.heartbeat()
        if self.subscriptions:
            self._probe_out = True
            self.loop.create_task(self._probe())
            self._arm_heartbeat()
        else:
            self._probe_out = False

    async def _probe(self) -> None:
        try:
            await self.layer.send(self.channel, {"type": PROBE_TYPE})
        except Exception:
            logger.warning("hubbub: the channel layer is unreachable; disconnecting local subscribers", exc_info=True)
            self.close_all("channel layer unreachable")
