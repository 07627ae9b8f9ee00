"""The update history: stored on publish, read on resume, pruned in the background.

On PostgreSQL the server stores updates from its event loop on a connection of its own,
with asyncpg: Django's ORM would cost two thread hand-offs per batch, and psycopg's async
API twice asyncpg's CPU per statement (bench/README.md). Elsewhere, and from sync code,
it goes through the ORM.

Resume sends what was stored after the subscriber's last id, so live delivery must
happen in sequence order: were update 11 delivered before update 10, a subscriber
resuming after 10 would get 11 twice, and one resuming after 11 would miss 10. Storing
and handing an update to the channel layer therefore happen under one ordering lock: a
PostgreSQL advisory lock shared by every process, or a process lock on other databases
(SQLite serves a single process).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import weakref
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from . import _conf as conf
from ._updates import Update
from .exceptions import HistoryUnavailable
from .models import StoredUpdate

if TYPE_CHECKING:
    import asyncpg  # imported where used: only a PostgreSQL history needs it (hubbub[postgres])

logger = logging.getLogger(__name__)

EARLIEST = "earliest"
_ADVISORY_LOCK = 0x6875_6262  # "hubb"
BATCH = 500

_TABLE = StoredUpdate._meta.db_table
_local_order = threading.Lock()
_async_connections: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncpg.Connection] = (
    weakref.WeakKeyDictionary()
)
_prune_lock = threading.Lock()
_prune_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubbub-prune")
_stored_since_prune = 0


def store(updates: Sequence[Update], send: Callable[[list[tuple[int, Update]]], int] | None = None) -> list[int]:
    """Save updates in one transaction and return their sequence numbers.

    ``send(batch)`` (the fan-out) gets the ``(seq, update)`` pairs in order and returns how
    many the channel layer took; it runs before the next updates can be stored. Updates it
    did not take are removed again, so that a publisher told "not published" can safely
    retry. Sync; must not be called inside a transaction.
    """
    database = router.db_for_write(StoredUpdate)
    rows = [StoredUpdate.from_update(update) for update in updates]
    with _ordering(connections[database]):
        with transaction.atomic(using=database):
            StoredUpdate.objects.using(database).bulk_create(rows)
        if send is not None:
            sent = 0
            try:
                sent = send([(row.seq, update) for row, update in zip(rows, updates, strict=True)])
            finally:
                if sent < len(rows):
                    StoredUpdate.objects.using(database).filter(seq__in=[row.seq for row in rows[sent:]]).delete()
    _count_for_pruning(len(rows))
    return [row.seq for row in rows]


async def astore(
    updates: Sequence[Update], send: Callable[[list[tuple[int, Update]]], Coroutine[Any, Any, int]]
) -> list[int]:
    """``store`` for async code: the same contract, with an async ``send`` run on this loop.

    Raises ``HistoryUnavailable`` when PostgreSQL cannot be reached or fails.
    """
    database = router.db_for_write(StoredUpdate)
    params = _asyncpg_params(connections[database])
    if params is None:
        loop = asyncio.get_running_loop()
        return await sync_to_async(store)(
            updates, lambda batch: asyncio.run_coroutine_threadsafe(send(batch), loop).result(timeout=30)
        )
    import asyncpg

    failure: BaseException | None = None
    try:
        connection = await _async_connection(params)
        now = datetime.now(UTC)
        rows = await connection.fetch(
            _LOCK_AND_INSERT,
            _ADVISORY_LOCK,
            [update.id for update in updates],
            [json.dumps(list(update.topics)) for update in updates],
            [update.data for update in updates],
            [update.private for update in updates],
            [update.type or "" for update in updates],
            [update.retry for update in updates],
            [now] * len(updates),
        )
        seqs = [row[0] for row in rows]
        sent = 0
        try:
            sent = await send(list(zip(seqs, updates, strict=True)))
        except BaseException as error:  # not the database's: raised as it is once the lock is released
            failure = error
        if sent < len(seqs):
            await connection.execute(f"DELETE FROM {_TABLE} WHERE seq = ANY($1::bigint[])", seqs[sent:])
        await connection.execute("SELECT pg_advisory_unlock($1)", _ADVISORY_LOCK)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
        # Dropping the connection also releases the advisory lock if it was taken.
        connection = _async_connections.pop(asyncio.get_running_loop(), None)
        if connection is not None:
            connection.terminate()
        raise HistoryUnavailable(f"the update history is unreachable: {error}") from error
    if failure is not None:
        raise failure
    _count_for_pruning(len(seqs))
    return seqs


# Taking the lock and inserting in one statement saves a round trip; the lock is taken
# before the first row draws its sequence number.
_LOCK_AND_INSERT = f"""
    WITH ordering AS MATERIALIZED (SELECT pg_advisory_lock($1))
    INSERT INTO {_TABLE} (uid, topics, data, private, type, retry, created)
    SELECT row.* FROM ordering, unnest(
        $2::text[], $3::jsonb[], $4::text[], $5::bool[], $6::text[], $7::int[], $8::timestamptz[]
    ) AS row
    RETURNING seq
"""

# OPTIONS of a PostgreSQL database that only concern Django or psycopg, and the libpq
# options asyncpg also takes. With any other option the server stores through the ORM.
_DJANGO_OPTIONS = {
    "cursor_factory",
    "context",
    "prepare_threshold",
    "server_side_binding",
    "pool",
    "isolation_level",
    "assume_role",
    "client_encoding",
}
_ASYNCPG_OPTIONS = {
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "sslpassword",
    "passfile",
    "target_session_attrs",
    "application_name",
}


def _asyncpg_params(connection: BaseDatabaseWrapper) -> dict[str, object] | None:
    """asyncpg's connection arguments for a PostgreSQL database, or None to use the ORM."""
    if connection.vendor != "postgresql":
        return None
    settings = connection.settings_dict
    options = {key: value for key, value in (settings.get("OPTIONS") or {}).items() if key not in _DJANGO_OPTIONS}
    if not settings.get("NAME") or not set(options) <= _ASYNCPG_OPTIONS:
        return None
    return {
        "dsn": "postgresql://?" + urlencode(options) if options else None,
        "host": settings.get("HOST") or None,
        "port": int(settings["PORT"]) if settings.get("PORT") else None,
        "user": settings.get("USER") or None,
        "password": settings.get("PASSWORD") or None,
        "database": settings["NAME"],
        # A stalled server answers publishers with 503 instead of holding them (and the lock).
        "timeout": 10,
        "command_timeout": 30,
    }


async def _async_connection(params: dict[str, object]) -> asyncpg.Connection:
    import asyncpg

    loop = asyncio.get_running_loop()
    connection = _async_connections.get(loop)
    if connection is None or connection.is_closed():
        connection = _async_connections[loop] = await asyncpg.connect(**params)
    return connection


@contextmanager
def _ordering(connection: BaseDatabaseWrapper) -> Iterator[None]:
    if connection.vendor != "postgresql":
        with _local_order:
            yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [_ADVISORY_LOCK])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_ADVISORY_LOCK])


def _count_for_pruning(count: int) -> None:
    global _stored_since_prune
    _stored_since_prune += count
    if _stored_since_prune >= conf.get("HUBBUB_PRUNE_EVERY"):
        _stored_since_prune = 0
        _prune_executor.submit(_prune_in_background)


def _prune_in_background() -> None:
    try:
        prune()
    except Exception:
        logger.exception("hubbub: pruning the update history failed")
    finally:
        close_old_connections()


def prune() -> int:
    """Delete updates beyond the configured age and count; returns how many went."""
    if not _prune_lock.acquire(blocking=False):
        return 0
    try:
        deleted = 0
        cutoff = timezone.now() - timedelta(seconds=conf.get("HUBBUB_HISTORY_MAX_AGE"))
        deleted += StoredUpdate.objects.filter(created__lt=cutoff).delete()[0]
        newest = StoredUpdate.objects.order_by("-seq").values_list("seq", flat=True).first()
        if newest is not None:
            keep_from = newest - conf.get("HUBBUB_HISTORY_MAX_COUNT")
            deleted += StoredUpdate.objects.filter(seq__lte=keep_from).delete()[0]
        return deleted
    finally:
        _prune_lock.release()


def last_id() -> str | None:
    return StoredUpdate.objects.order_by("-seq").values_list("uid", flat=True).first()


def last_event_id() -> str:
    """The newest stored update's id, or ``"earliest"`` when the history is empty: a page
    rendered now resumes from it and misses nothing published after."""
    return last_id() or EARLIEST


def position(event_id: str) -> int | None:
    """The sequence number to resume after: 0 for ``earliest``, None for an unknown id."""
    if event_id == EARLIEST:
        return 0
    return StoredUpdate.objects.filter(uid=event_id).order_by("-seq").values_list("seq", flat=True).first()


def batch_after(seq: int, limit: int = BATCH) -> list[tuple[int, Update]]:
    """Up to ``limit`` updates stored after ``seq``, oldest first."""
    rows = StoredUpdate.objects.filter(seq__gt=seq).order_by("seq")[:limit]
    return [(row.seq, row.to_update()) for row in rows]
