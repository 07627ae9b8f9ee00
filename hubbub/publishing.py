"""``publish`` and ``apublish``: validate, store in history, then fan out through the channel layer."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Iterable

from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import router, transaction

from . import conf, fanout, history, relay
from .exceptions import FanoutUnavailable
from .models import StoredUpdate
from .updates import Update

logger = logging.getLogger(__name__)

_serving = False
_loop_lock = threading.Lock()
_publisher_loop: asyncio.AbstractEventLoop | None = None


def mark_serving() -> None:
    """Called by the ASGI application: this process is the server its subscribers connect to."""
    global _serving
    _serving = True


def _layer_is_local() -> bool:
    return isinstance(get_channel_layer(conf.get("HUBBUB_CHANNEL_LAYER")), InMemoryChannelLayer)


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
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("hubbub.publish() was called from async code: use 'await hubbub.apublish(...)'")
    update = Update.create(topics, data, private=private, type=type, id=id, retry=retry)
    database = router.db_for_write(StoredUpdate)
    if transaction.get_connection(database).in_atomic_block:
        transaction.on_commit(lambda: _deliver(update), using=database, robust=True)
    else:
        _deliver(update)
    return update.id


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
            return
        except relay.RelayUnavailable as error:
            logger.warning("hubbub: no server to relay update %s through (%s); stored only", update.id, error)
    history.store(update, then=lambda seq: _send_from_sync(update, seq))


async def adeliver(update: Update) -> int:
    """Store then fan out an already validated update; returns its sequence number (0 if relayed)."""
    if _must_relay():
        try:
            await relay.arelay(update)
            return 0
        except relay.RelayUnavailable as error:
            logger.warning("hubbub: no server to relay update %s through (%s); stored only", update.id, error)
    loop = asyncio.get_running_loop()
    return await sync_to_async(history.store)(update, then=lambda seq: _send_on(loop, update, seq))


async def send(update: Update, seq: int) -> None:
    layer = get_channel_layer(conf.get("HUBBUB_CHANNEL_LAYER"))
    message = fanout.message_for(update, seq)
    try:
        for group in fanout.groups_for(update):
            await layer.group_send(group, message)
    except Exception as error:
        raise FanoutUnavailable(update.id, error) from error


def _send_from_sync(update: Update, seq: int) -> None:
    loop = fanout.serving_loop()
    if loop is None:
        if _layer_is_local():
            return  # no subscriber can be listening in this process
        loop = _background_loop()
    _send_on(loop, update, seq)


def _send_on(loop: asyncio.AbstractEventLoop, update: Update, seq: int) -> None:
    """Run ``send`` on ``loop`` from a worker thread and wait for it (in-memory layers are loop-bound)."""
    asyncio.run_coroutine_threadsafe(send(update, seq), loop).result(timeout=30)


def _background_loop() -> asyncio.AbstractEventLoop:
    """A loop of its own for sync publishers outside a server, keeping one layer connection."""
    global _publisher_loop
    with _loop_lock:
        if _publisher_loop is None or _publisher_loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="hubbub-publisher", daemon=True).start()
            _publisher_loop = loop
        return _publisher_loop
