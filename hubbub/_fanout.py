"""Per-worker fan-out: one link to the channel layer, local delivery to subscribers.

Each event loop that serves subscribers owns one ``Fanout``. It receives every update of
the deployment, once, through one group of the channel layer (``all``), a stored batch
to a message, and delivers each to the local subscribers that want it: encoded a single
time, then pushed as the same bytes to every one of them.

Exactly once, in history order: the fan-out knows the sequence number of the last update
it delivered. An update at or below it is a copy (a resend, a retried pipeline) and is
dropped. Each message says which numbers it covers (``after``, ``upto``): numbers drawn
by the insert that stored its updates but not stored (ids stored already) leave no gap.
Workers store and send concurrently, so batches may arrive out of order: one that does
not follow on is held while the missing ones are on their way (their senders committed
them first, see ``hubbub._history``). Those still missing after ``GAP_WAIT`` were stored
but not received (their sender died between storing and sending, or the layer dropped
them), or never stored: what the history holds is read and delivered first, then what
was held. When the link itself breaks (see
``hubbub._links``) every local subscriber is disconnected at once: it resumes from the
history by Last-Event-ID, here or on another worker, and subscribing is answered 503
until the channel layer is back. A worker that received nothing for a heartbeat also asks
the history for its newest number, so that an update whose sender died is not held back
until the next one.

The ``control`` group carries requests to close the streams a session user opened when
what that user may read has changed (``reauthorize``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from . import _conf as conf, _history as history, _layers as layers, _links as links
from ._background import in_background
from ._selectors import Pattern
from ._server import frame
from ._subscriptions import Subscription
from ._sync import run_sync
from ._updates import Update
from .exceptions import HistoryUnavailable, LayerUnavailable

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "hubbub.updates"
REAUTHORIZE_TYPE = "hubbub.reauthorize"

_fanouts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Fanout] = weakref.WeakKeyDictionary()


def all_group() -> str:
    """The group every update is sent to, and every worker's fan-out is in."""
    return layers.group("all")


def control_group() -> str:
    return layers.group("control")


# How long updates that arrived ahead of a missing one wait for it before the history is
# asked (a batch committed earlier on another worker, whose send is a moment behind).
GAP_WAIT = 0.05
# A layer message carries at most this many bytes of update data (and one update at least).
MESSAGE_DATA_BYTES = 64 * 1024


def messages_for(batch: history.Batch) -> list[dict[str, Any]]:
    """The layer messages for a stored batch, in order: as few as the size bound allows, so
    that every worker reads and decodes one message per stored batch. Each says which
    numbers it covers (``after``, ``upto``: see ``hubbub._history.Batch``)."""
    messages: list[dict[str, Any]] = []
    pairs: list[list[object]] = []
    after, size = batch.after, 0
    for seq, update in batch:
        if pairs and size + len(update.data) > MESSAGE_DATA_BYTES:
            upto: Any = pairs[-1][0]
            messages.append({"type": MESSAGE_TYPE, "after": after, "upto": upto, "updates": pairs})
            after, pairs, size = upto, [], 0
        pairs.append([seq, update.as_message()])
        size += len(update.data)
    messages.append({"type": MESSAGE_TYPE, "after": after, "upto": batch.upto, "updates": pairs})
    return messages


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
        self.subscriptions: set[Subscription] = set()
        self.by_topic: dict[str, set[Subscription]] = {}
        self.by_user: dict[str, set[Subscription]] = {}
        # Subscribers with "*", and those with URI templates or URL Patterns, indexed by pattern: one
        # that many subscribers share is matched once per update.
        self.everything: set[Subscription] = set()
        self.by_template: dict[str, tuple[Pattern, set[Subscription]]] = {}
        self.link: links.Link | None = None
        self.last_seq = 0
        self.delivered = 0
        # Messages received ahead of a missing update, by the number they follow (``after``).
        self.held: dict[int, dict[str, Any]] = {}
        self._gap_timer: asyncio.TimerHandle | None = None
        self._filling = False
        self._received = False
        self._lock = asyncio.Lock()
        self._heartbeat: asyncio.TimerHandle | None = None

    async def add(self, subscription: Subscription) -> None:
        """Register a subscription; returns once every update stored from now on will reach it.

        Raises ``LayerUnavailable`` or ``HistoryUnavailable`` when the link cannot be opened.
        """
        await self._connect()
        self.subscriptions.add(subscription)
        selectors = subscription.selectors
        if selectors.wildcard:
            self.everything.add(subscription)
        else:
            for template, pattern in zip(selectors.pattern_keys, selectors.patterns, strict=True):
                self.by_template.setdefault(template, (pattern, set()))[1].add(subscription)
        for topic in selectors.exact:
            self.by_topic.setdefault(topic, set()).add(subscription)
        if subscription.user is not None:
            self.by_user.setdefault(subscription.user, set()).add(subscription)
        if self._heartbeat is None:
            self._arm_heartbeat()

    async def remove(self, subscription: Subscription) -> None:
        if subscription not in self.subscriptions:
            return
        self.subscriptions.discard(subscription)
        self.everything.discard(subscription)
        selectors = subscription.selectors
        for template in selectors.pattern_keys:
            entry = self.by_template.get(template)
            if entry is not None:
                entry[1].discard(subscription)
                if not entry[1]:
                    del self.by_template[template]
        _discard(self.by_topic, selectors.exact, subscription)
        if subscription.user is not None:
            _discard(self.by_user, (subscription.user,), subscription)

    async def _connect(self) -> None:
        if self.link is not None and self.link.alive:
            return
        async with self._lock:
            if self.link is not None and self.link.alive:
                return
            # Read before the link subscribes: an update stored in between arrives live or,
            # if it was sent before the subscription took effect, as a gap filled from history.
            try:
                baseline = await run_sync(history.read_fresh, history.newest_seq)
            except Exception as error:
                raise HistoryUnavailable(f"the update history is unreachable: {error}") from error
            try:
                link = links.open_link(self.layer, [all_group(), control_group()], self._receive, self._lost)
                await link.open()
            except Exception as error:  # LinkUnavailable, or a layer the link cannot even be made for
                logger.warning("hubbub: cannot subscribe, the channel layer is unreachable: %s", error)
                raise LayerUnavailable(f"the channel layer is unreachable: {error}") from error
            self.last_seq = baseline
            self.held.clear()
            self.link = link

    def _lost(self, reason: str) -> None:
        self.link = None
        self.close_all("channel layer unreachable")

    def _receive(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == MESSAGE_TYPE:
            self._received = True
            if message["upto"] <= self.last_seq:
                return  # a copy
            if message["after"] <= self.last_seq and not self._filling:
                self._deliver(message)
                if self.held:
                    self._release_held()
            else:
                self.held[message["after"]] = message
                self._release_held()
        elif kind == REAUTHORIZE_TYPE:
            self.close_user(message["user"])

    def _deliver(self, message: dict[str, Any]) -> None:
        """Deliver a message's updates that are new here; everything up to its ``upto`` is then."""
        for seq, payload in message["updates"]:
            if seq > self.last_seq:
                self.last_seq = seq
                self.dispatch(Update.from_message(payload), seq)
        self.last_seq = max(self.last_seq, message["upto"])

    def _release_held(self) -> None:
        """Deliver the held messages that now follow on; wait ``GAP_WAIT`` for a missing one."""
        held = self.held
        while held and not self._filling:
            after = min(held)
            if after > self.last_seq:
                break
            message = held.pop(after)
            if message["upto"] > self.last_seq:
                self._deliver(message)
        if not held:
            if self._gap_timer is not None:
                self._gap_timer.cancel()
                self._gap_timer = None
        elif self._gap_timer is None and not self._filling:
            self._gap_timer = self.loop.call_later(GAP_WAIT, self._gap_overdue)

    def _gap_overdue(self) -> None:
        self._gap_timer = None
        if self.held and not self._filling:
            in_background(self._catch_up(max(self.held)))

    async def _catch_up(self, through: int) -> None:
        """Deliver what the history holds after the last delivered update, up to ``through``,
        in order; then the held messages that follow on. Every number up to ``through`` is
        final (updates are committed in sequence order, and one numbered above it, held, or
        ``through`` itself, the newest, was): one the history lacks was never stored."""
        self._filling = True
        try:
            while self.last_seq < through:
                try:
                    missing = await run_sync(history.read_fresh, history.between, self.last_seq, through + 1)
                except Exception as error:
                    logger.warning("hubbub: cannot read the missing updates from the history: %s", error)
                    self.close_all("update history unreachable")  # they resume from the history
                    self.last_seq = through  # the fan-out goes on from here
                    break
                self._dispatch_in_order(missing)
                if len(missing) < history.BATCH:
                    self.last_seq = max(self.last_seq, through)
                    break
        finally:
            self._filling = False
        self._release_held()

    def _dispatch_in_order(self, updates: list[tuple[int, Update]]) -> None:
        for number, update in updates:
            if number > self.last_seq:
                self.last_seq = number
                self.dispatch(update, number)

    def close_all(self, reason: str) -> None:
        for subscription in list(self.subscriptions):
            subscription.close(reason)

    def close_user(self, user: str) -> int:
        """Close the streams that ``user``'s session authorized here; they reconnect and are authorized anew."""
        streams = list(self.by_user.get(user, ()))
        for subscription in streams:
            subscription.close("the user's authorization changed")
        return len(streams)

    def dispatch(self, update: Update, seq: int) -> int:
        """Deliver one update to every local subscriber that wants it; returns how many."""
        topics = update.topics
        targets: set[Subscription] = set()
        if len(topics) == 1 and not update.private and not self.by_template and not self.everything:
            # The common case: the subscribers of one topic, without copying the set.
            return self._push(self.by_topic.get(topics[0], targets), update, seq)
        for topic in topics:
            exact = self.by_topic.get(topic)
            if exact:
                targets |= exact
        for topic in topics:
            for pattern, subscribers in self.by_template.values():
                if pattern.fullmatch(topic) is not None:
                    targets |= subscribers
        if self.everything:
            targets |= self.everything
        if update.private:
            targets = {s for s in targets if s.may_read(update)}
        return self._push(targets, update, seq)

    def _push(self, targets: set[Subscription], update: Update, seq: int) -> int:
        if not targets:
            return 0
        # Each wire form is encoded once, on first use, for all the subscribers that take it: an
        # SSE event (and, for the streams written to directly, framed as an HTTP/1.1 chunk), a
        # WebSocket message.
        event: bytes | None = None
        framed: bytes | None = None
        message: bytes | None = None
        for subscription in targets:
            if subscription.over_socket:
                if message is None:
                    message = update.encode_json()
                subscription.push(seq, message)
            else:
                if event is None:
                    event = update.encode()
                    framed = frame(event)
                subscription.push(seq, event, framed)
        self.delivered += len(targets)
        return len(targets)

    def _arm_heartbeat(self) -> None:
        self._heartbeat = self.loop.call_later(conf.get("HUBBUB_HEARTBEAT_SECONDS"), self._beat)

    def _beat(self) -> None:
        self._heartbeat = None
        link = self.link
        if not self.subscriptions:
            # Nobody left to deliver to: stop receiving every update of the deployment.
            if link is not None:
                self.link = None
                in_background(link.close())
            return
        for subscription in self.subscriptions:
            subscription.heartbeat()
        if link is not None:
            in_background(self._check(link, idle=not self._received))
        self._received = False
        self._arm_heartbeat()

    async def _check(self, link: links.Link, *, idle: bool) -> None:
        await link.probe()
        if not idle or not link.alive:
            return
        try:
            newest = await run_sync(history.read_fresh, history.newest_seq)
        except Exception:
            return  # the next publish or resume will tell
        if newest > self.last_seq and link.alive and not self._filling:
            await self._catch_up(newest)


def _discard(index: dict[str, set[Subscription]], keys: Any, subscription: Subscription) -> None:
    for key in keys:
        members = index.get(key)
        if members is not None:
            members.discard(subscription)
            if not members:
                del index[key]
