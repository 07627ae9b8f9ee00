"""``publish`` and ``apublish``: validate, store in history, then fan out through the channel layer."""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable

from django.db import DatabaseError, router, transaction

from . import _conf as conf, _fanout as fanout, _history as history, _layers as layers, _links as links, _relay as relay
from ._background import in_background
from ._updates import Update
from .exceptions import HistoryUnavailable, RelayWarning
from .models import StoredUpdate

logger = logging.getLogger(__name__)

_serving = False
_loop_lock = threading.Lock()
_publisher_loop: asyncio.AbstractEventLoop | None = None
# Called with each update once it is acknowledged (stored, or relayed); hubbub.testing.capture
# adds one. Not for a rolled-back transaction or a failed publish.
observers: list[Callable[[Update], None]] = []


def mark_serving() -> None:
    """Called by the ASGI application on each request: this process is a server that
    subscribers connect to (merely importing the application, as a system check does in a
    management command, does not make a process one)."""
    global _serving
    _serving = True


def _layer_is_local() -> bool:
    return layers.is_local(layers.channel_layer())


def _must_relay() -> bool:
    return _layer_is_local() and not _serving and fanout.serving_loop() is None and bool(conf.get("HUBBUB_RELAY_URL"))


def publish(
    topics: str | Iterable[str],
    data: str = "",
    *,
    private: bool = False,
    type: str | None = None,
    id: str | None = None,
    retry: int | None = None,
) -> str:
    """Publish an update from sync code and return its id.

    Inside a transaction the update is stored and sent once the transaction commits, so
    that a rolled-back change is never announced.
    """
    refuse_async_caller("publish", "apublish")
    update = Update.create(topics, data, private=private, type=type, id=id, retry=retry)
    after_commit(lambda: _deliver(update), using=router.db_for_write(StoredUpdate))
    return update.id


def refuse_async_caller(name: str, async_name: str) -> None:
    """Sync entry points block on the event loop's work: from that loop they would deadlock."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(f"hubbub.{name}() was called from async code: use 'await hubbub.{async_name}(...)'")


def after_commit(action: Callable[[], None], *, using: str | None) -> None:
    """Run ``action`` once the transaction open on ``using`` commits (a failure then is
    logged, the commit stands), or at once, raising, when no transaction is open."""
    if transaction.get_connection(using).in_atomic_block:
        transaction.on_commit(action, using=using, robust=True)
    else:
        action()


async def apublish(
    topics: str | Iterable[str],
    data: str = "",
    *,
    private: bool = False,
    type: str | None = None,
    id: str | None = None,
    retry: int | None = None,
) -> str:
    """Publish an update from async code and return its id."""
    update = Update.create(topics, data, private=private, type=type, id=id, retry=retry)
    await adeliver(update)
    return update.id


def _deliver(update: Update) -> None:
    if _must_relay():
        try:
            relay.relay(update)
            _delivered(update)
            return
        except relay.RelayUnavailable as error:
            _relay_failed(update, error)

    def send_from_sync(batch: history.Batch) -> None:
        loop = layer_loop()
        if loop is not None:  # else no subscriber can be listening in this process
            asyncio.run_coroutine_threadsafe(send(batch), loop).result()

    [result] = history.store([update], send_from_sync)
    if isinstance(result, Exception):
        raise result
    _delivered(update)


async def adeliver(update: Update) -> int:
    """Store then fan out an already validated update; returns its sequence number (0 if relayed)."""
    if _must_relay():
        try:
            await relay.arelay(update)
            _delivered(update)
            return 0
        except relay.RelayUnavailable as error:
            _relay_failed(update, error)
    seq = await _committer().submit(update)
    _delivered(update)
    return seq


def _delivered(update: Update) -> None:
    for observer in tuple(observers):
        observer(update)


def _relay_failed(update: Update, error: Exception) -> None:
    message = (
        f"hubbub: no server at {conf.get('HUBBUB_RELAY_URL')} to deliver update {update.id} through ({error}); "
        "stored only: open pages get it when they next resume. For a server on another port, "
        "set PORT or HUBBUB_RELAY_URL for this process too."
    )
    logger.warning(message)
    warnings.warn(RelayWarning(message), stacklevel=2)


# How long a batch may take to reach the channel layer before the publishers are answered
# without waiting for it (it is stored: it is sent again, and receivers fill the gap).
SEND_TIMEOUT = links.SEND_TIMEOUT
_RESEND_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)


async def send(batch: history.Batch) -> None:
    """Hand stored updates to the channel layer, in order, in as few messages as their size
    allows, to the deployment's ``all`` group. Does not raise: a batch the layer did not take is sent
    again in the background, and a receiver that sees a gap reads it from the history."""
    try:
        async with asyncio.timeout(SEND_TIMEOUT):
            await _send_once(batch)
    except Exception as error:
        logger.warning(
            "hubbub: the channel layer did not take updates %d-%d (%s: %s); they are stored, and sent again",
            batch[0][0],
            batch[-1][0],
            type(error).__name__,
            error,
        )
        in_background(_resend(batch))


async def _send_once(batch: history.Batch) -> None:
    layer = layers.channel_layer()
    group = fanout.all_group()
    messages = fanout.messages_for(batch)
    if layers.pipelines(layer):
        await layers.group_send_pipelined(layer, [(group, message) for message in messages])
        return
    for message in messages:
        await layer.group_send(group, message)


async def _resend(batch: history.Batch) -> None:
    for delay in _RESEND_DELAYS:
        await asyncio.sleep(delay)
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await _send_once(batch)
            return
        except Exception:
            continue
    logger.warning(
        "hubbub: gave up sending updates %d-%d; subscribers get them from the history", batch[0][0], batch[-1][0]
    )


class _Committer:
    """Group commit for one event loop: updates that arrive while a batch is being stored
    are stored together in the next one, in one transaction and one hold of the ordering
    lock, then sent in order. Under load this turns N round trips into one."""

    MAX_BATCH = 500

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: list[tuple[Update, asyncio.Future[int]]] = []
        self.running = False

    async def submit(self, update: Update) -> int:
        future: asyncio.Future[int] = self.loop.create_future()
        self.waiting.append((update, future))
        if not self.running:
            self.running = True
            in_background(self._run())
        return await future

    async def _run(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting[: self.MAX_BATCH], self.waiting[self.MAX_BATCH :]
                await self._commit(batch)
        finally:
            self.running = False

    async def _commit(self, batch: list[tuple[Update, asyncio.Future[int]]]) -> None:
        try:
            results = await history.astore([update for update, _ in batch], send)
        except Exception as error:
            if isinstance(error, DatabaseError):
                error = HistoryUnavailable(f"the update history is unreachable: {error}")
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


_committers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Committer] = weakref.WeakKeyDictionary()


def _committer() -> _Committer:
    loop = asyncio.get_running_loop()
    committer = _committers.get(loop)
    if committer is None:
        committer = _committers[loop] = _Committer(loop)
    return committer


def layer_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop through which sync code reaches the channel layer: the loop serving this
    process's subscribers, else (for a layer that crosses processes) a background loop of the
    process's own. None when the layer is the in-memory one and this process serves nobody."""
    loop = fanout.serving_loop()
    if loop is None and not _layer_is_local():
        loop = _background_loop()
    return loop


def _background_loop() -> asyncio.AbstractEventLoop:
    """A loop of its own for sync publishers outside a server, keeping one layer connection."""
    global _publisher_loop
    with _loop_lock:
        if _publisher_loop is None or _publisher_loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="hubbub-publisher", daemon=True).start()
            _publisher_loop = loop
        return _publisher_loop
