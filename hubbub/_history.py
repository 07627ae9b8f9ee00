"""The update history: stored on publish, read on resume, pruned in the background.

On PostgreSQL the server stores updates from its event loop on a connection of its own,
with asyncpg: Django's ORM would cost two thread hand-offs per batch, and psycopg's async
API twice asyncpg's CPU per statement (bench/README.md). Elsewhere, and from sync code,
it goes through the ORM.

Resume sends what was stored after the subscriber's last id, so live delivery must
happen in sequence order: were update 11 delivered before update 10, a subscriber
resuming after 10 would get 11 twice, and one resuming after 11 would miss 10. And what
is read from the history must be final: were 11 readable while 10 was still being
stored, a subscriber resuming after 11 would miss 10. So updates are committed in
sequence order: each insert takes an ordering lock before its rows draw their numbers
and keeps it until it commits (a PostgreSQL advisory lock held by the transaction,
shared by every process; a process lock on other databases, SQLite serving a single
process). Only the insert holds it: sending to the channel layer happens after, from
every worker at once, and each worker's fan-out puts what it receives back in sequence
order (``hubbub._fanout``). The lock is the cluster's one ordering point, held for the
time the database takes to insert and commit a batch (bench/ordering.py measures it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from django.db import DatabaseError, IntegrityError, close_old_connections, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from . import _conf as conf
from ._updates import Update
from .exceptions import HistoryUnavailable, OutcomeUnknown, UpdateConflict
from .models import StoredUpdate

if TYPE_CHECKING:
    import asyncpg  # imported where used: only a PostgreSQL history needs it (hubbub[postgres])

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

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


Result = int | UpdateConflict


class Batch(list[tuple[int, Update]]):
    """Stored updates for the fan-out, ``(seq, update)`` in sequence order, and the numbers
    they cover: every number in ``(after, upto]`` that is not one of theirs was drawn by the
    same insert and never stored (its id was stored already). A receiver that has everything
    up to ``after`` delivers them at once, with nothing to wait for between them or after
    them. By default they cover their own numbers, from the first to the last."""

    def __init__(
        self, pairs: Iterable[tuple[int, Update]], *, after: int | None = None, upto: int | None = None
    ) -> None:
        super().__init__(pairs)
        self.after = self[0][0] - 1 if after is None else after
        self.upto = self[-1][0] if upto is None else upto


Send = Callable[[Batch], object]
_VERIFY_FOR = 5.0  # seconds: how long a publisher waits for the database to say whether it kept an update


def store(updates: Sequence[Update], send: Send | None = None) -> list[Result]:
    """Save updates in one transaction and return, for each, its sequence number, or an
    ``UpdateConflict`` when its id is already stored with other content.

    An update whose id is already stored with the same content (a publisher retrying) keeps
    its number and is not stored again. ``send(batch)`` (the fan-out) gets the
    ``(seq, update)`` pairs of all the others, new and retried, in order, as ``Batch``es (the
    new ones in one, each retried one in its own); it is expected not to raise. Sync; must
    not be called inside a transaction.

    Raises ``HistoryUnavailable`` when nothing was stored, ``OutcomeUnknown`` when the
    database failed in a way that leaves it unknown whether the updates were stored.
    """
    database = router.db_for_write(StoredUpdate)
    connection = connections[database]
    firsts = _distinct(updates)
    # On PostgreSQL the insert's transaction takes the ordering lock (_insert); elsewhere this
    # process's lock orders the inserts. Either way the send is outside it.
    ordering = nullcontext() if connection.vendor == "postgresql" else _local_order
    try:
        with ordering:
            fresh, stored = _insert(database, firsts)
            results = _results(updates, firsts, fresh, stored)
        if send is not None:
            for batch in _batches(results, updates, fresh):
                _send(send, batch)
    except DatabaseError as error:
        raise HistoryUnavailable(f"the update history is unreachable: {error}") from error
    _count_for_pruning(len(fresh))
    return results


def _insert(database: str, firsts: dict[str, Update]) -> tuple[dict[str, int], dict[str, StoredUpdate]]:
    """Insert the updates whose ids are not stored yet, in one transaction; returns the seqs
    of those inserted, and the rows already stored for the others. The common case (no id
    stored yet) costs the insert only; a unique-id violation leads to a lookup and a retry."""
    stored: dict[str, StoredUpdate] = {}
    rows = [StoredUpdate.from_update(update) for update in firsts.values()]
    for looked_up in (False, True):
        try:
            with transaction.atomic(using=database):
                connection = connections[database]
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK])
                StoredUpdate.objects.using(database).bulk_create(rows)
        except IntegrityError:
            if looked_up:
                raise
            stored = {row.uid: row for row in StoredUpdate.objects.using(database).filter(uid__in=list(firsts))}
            rows = [StoredUpdate.from_update(update) for update in firsts.values() if update.id not in stored]
            if not rows:
                break
            continue
        except DatabaseError as error:
            return {}, _verify(database, list(firsts), error)
        break
    return {row.uid: row.seq for row in rows}, stored


def _distinct(updates: Sequence[Update]) -> dict[str, Update]:
    """The first update of each id, in order (a batch may hold a retry of its own update)."""
    firsts: dict[str, Update] = {}
    for update in updates:
        firsts.setdefault(update.id, update)
    return firsts


def _results(
    updates: Sequence[Update], firsts: dict[str, Update], fresh: dict[str, int], stored: dict[str, StoredUpdate]
) -> list[Result]:
    """Each update's seq, or its conflict: ``fresh`` holds the ids this call inserted, ``stored``
    those found already stored (compared with the update, field by field)."""
    results: list[Result] = []
    for update in updates:
        seq = fresh.get(update.id)
        if seq is not None:
            same = update is firsts[update.id] or update == firsts[update.id]
        elif update.id in stored:
            row = stored[update.id]
            seq, same = row.seq, row.same_content(update)
        else:
            raise HistoryUnavailable(f"update {update.id} was neither stored nor found: publish it again")
        if same:
            results.append(seq)
        else:
            results.append(UpdateConflict(f"an update with id {update.id!r} is already stored, with other content"))
    return results


def _batches(
    results: list[Result], updates: Sequence[Update], fresh: dict[str, int], drawn: tuple[int, int] | None = None
) -> list[Batch]:
    """What goes to the fan-out, in sequence order: the updates this insert stored, as one
    batch covering ``drawn`` (the numbers the insert drew, when known), and each one stored
    before (a retry) as a batch of its own."""
    pairs = sorted({seq: update for seq, update in zip(results, updates, strict=True) if isinstance(seq, int)}.items())
    numbers = set(fresh.values())
    batches = [Batch([pair]) for pair in pairs if pair[0] not in numbers]
    new = [pair for pair in pairs if pair[0] in numbers]
    if new:
        batches.append(Batch(new, after=drawn[0], upto=drawn[1]) if drawn is not None else Batch(new))
    return sorted(batches, key=lambda batch: batch.after)


def _send(send: Send, batch: Batch) -> None:
    try:
        send(batch)
    except Exception:
        logger.exception("hubbub: sending stored updates failed")


async def _asend(send: Callable[[Batch], Coroutine[Any, Any, object]], batch: Batch) -> None:
    try:
        await send(batch)
    except Exception:
        logger.exception("hubbub: sending stored updates failed")


def _verify(database: str, ids: list[str], error: DatabaseError) -> dict[str, StoredUpdate]:
    """After a write failed: the updates the database kept after all (all or none: one
    transaction), asked on a new connection while the database comes back."""
    connection = connections[database]
    deadline = time.monotonic() + _VERIFY_FOR
    while True:
        try:
            connection.close()
        except DatabaseError:
            pass
        try:
            kept = {row.uid: row for row in StoredUpdate.objects.using(database).filter(uid__in=ids)}
        except DatabaseError:
            if time.monotonic() > deadline:
                raise _cannot_tell(ids, error) from error
            time.sleep(0.25)
            continue
        return _all_or_none(kept, ids, error)


def _all_or_none(kept: dict[str, StoredUpdate], ids: list[str], error: BaseException) -> dict[str, StoredUpdate]:
    """The verdict of a verification that could read the history: kept (one transaction: all
    of them), or not stored at all."""
    if len(kept) < len(ids):
        raise HistoryUnavailable(f"the update history is unreachable: {error}") from error
    return kept


def _cannot_tell(ids: list[str], error: BaseException) -> OutcomeUnknown:
    return OutcomeUnknown(
        f"the update history failed while storing ({error}) and cannot tell whether it kept "
        f"{_ids(ids)}: publish again with the same id"
    )


def _ids(ids: list[str]) -> str:
    return f"update {ids[0]}" if len(ids) == 1 else f"updates {', '.join(ids[:3])}{'...' if len(ids) > 3 else ''}"


async def astore(updates: Sequence[Update], send: Callable[[Batch], Coroutine[Any, Any, object]]) -> list[Result]:
    """``store`` for async code: the same contract, with an async ``send`` run on this loop."""
    database = router.db_for_write(StoredUpdate)
    params = _asyncpg_params(connections[database])
    if params is None:
        loop = asyncio.get_running_loop()
        return await sync_to_async(store)(
            updates, lambda batch: asyncio.run_coroutine_threadsafe(send(batch), loop).result()
        )
    import asyncpg

    firsts = _distinct(updates)
    try:
        connection = await _async_connection(params)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as error:
        _async_connections.pop(asyncio.get_running_loop(), None)
        raise HistoryUnavailable(f"the update history is unreachable: {error}") from error
    fresh: dict[str, int] = {}
    try:
        rows = await connection.fetch(
            _LOCK_AND_INSERT,
            _ADVISORY_LOCK,
            list(firsts),
            [json.dumps(list(update.topics)) for update in firsts.values()],
            [update.data for update in firsts.values()],
            [update.private for update in firsts.values()],
            [update.type or "" for update in firsts.values()],
            [update.retry for update in firsts.values()],
            [datetime.now(UTC)] * len(firsts),
        )
        fresh = {row["uid"]: row["seq"] for row in rows}
        stored = {}
        if len(fresh) < len(firsts):  # ids stored before: retries, or conflicts
            missing = [uid for uid in firsts if uid not in fresh]
            stored = {row["uid"]: _row(row) for row in await connection.fetch(_SELECT_IDS, missing)}
        results = _results(updates, firsts, fresh, stored)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as error:
        broken = _async_connections.pop(asyncio.get_running_loop(), None)
        if broken is not None:
            broken.terminate()
        fresh = {}  # what the database kept is sent as retried updates are, each on its own
        results = _results(updates, firsts, {}, await _averify(params, list(firsts), error))
    for batch in _batches(results, updates, fresh, _drawn(firsts, fresh)):
        await _asend(send, batch)
    _count_for_pruning(len(firsts))
    return results


def _drawn(firsts: dict[str, Update], fresh: dict[str, int]) -> tuple[int, int] | None:
    """The numbers an insert of ``firsts`` drew, as ``(after, upto)``, from the ones it stored
    (``fresh``): holding the ordering lock, the insert draws one number per row, its rows that
    were not stored included, consecutively and in the rows' order. None when what it stored
    does not show that (or it stored nothing)."""
    start: int | None = None
    for index, uid in enumerate(firsts):
        seq = fresh.get(uid)
        if seq is None:
            continue
        if start is None:
            start = seq - index
        elif seq != start + index:
            return None
    return None if start is None else (start - 1, start + len(firsts) - 1)


def _row(record: Any) -> StoredUpdate:
    return StoredUpdate(
        seq=record["seq"],
        uid=record["uid"],
        topics=json.loads(record["topics"]),
        data=record["data"],
        private=record["private"],
        type=record["type"],
        retry=record["retry"],
    )


async def _averify(params: dict[str, object], ids: list[str], error: BaseException) -> dict[str, StoredUpdate]:
    """``_verify`` for the asyncpg path."""
    import asyncpg

    deadline = time.monotonic() + _VERIFY_FOR
    while True:
        try:
            connection = await asyncpg.connect(**{**params, "timeout": 2})
            try:
                kept = {row["uid"]: _row(row) for row in await connection.fetch(_SELECT_IDS, ids)}
            finally:
                await connection.close()
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise _cannot_tell(ids, error) from error
            await asyncio.sleep(0.25)
            continue
        return _all_or_none(kept, ids, error)


# One statement, one round trip, one transaction: take the ordering lock (before the first
# row draws its sequence number; the commit releases it), insert in order, skip the ids
# already stored. Those (retries, or conflicts) are read back by a second query, only when
# there are any.
_LOCK_AND_INSERT = f"""
    WITH ordering AS MATERIALIZED (SELECT pg_advisory_xact_lock($1))
    INSERT INTO {_TABLE} (uid, topics, data, private, type, retry, created)
    SELECT r.uid, r.topics, r.data, r.private, r.type, r.retry, r.created
    FROM ordering, unnest(
        $2::text[], $3::jsonb[], $4::text[], $5::bool[], $6::text[], $7::int[], $8::timestamptz[]
    ) WITH ORDINALITY AS r(uid, topics, data, private, type, retry, created, n)
    ORDER BY r.n
    ON CONFLICT (uid) DO NOTHING
    RETURNING seq, uid
"""
_SELECT_IDS = f"SELECT seq, uid, topics::text, data, private, type, retry FROM {_TABLE} WHERE uid = ANY($1::text[])"

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
    # Off PostgreSQL (SQLite: one process), not while this process inserts: a shared-cache
    # SQLite database refuses a write at once while another connection writes the table.
    vendor = connections[router.db_for_write(StoredUpdate)].vendor
    try:
        with nullcontext() if vendor == "postgresql" else _local_order:
            deleted = StoredUpdate.objects.filter(
                created__lt=timezone.now() - timedelta(seconds=conf.get("HUBBUB_HISTORY_MAX_AGE"))
            ).delete()[0]
            newest = StoredUpdate.objects.order_by("-seq").values_list("seq", flat=True).first()
            if newest is not None:
                keep_from = newest - conf.get("HUBBUB_HISTORY_MAX_COUNT")
                deleted += StoredUpdate.objects.filter(seq__lte=keep_from).delete()[0]
            return deleted
    finally:
        _prune_lock.release()


def last_id() -> str | None:
    return StoredUpdate.objects.order_by("-seq").values_list("uid", flat=True).first()


def last_public_id() -> str | None:
    return StoredUpdate.objects.filter(private=False).order_by("-seq").values_list("uid", flat=True).first()


def last_event_id() -> str:
    """The newest stored update's id, or ``"earliest"`` when the history is empty: a page
    rendered now resumes from it and misses nothing published after."""
    return last_id() or EARLIEST


def read_fresh(read: Callable[..., _T], *args: Any) -> _T:
    """``read(*args)`` (from the database thread, through ``sync_to_async``) on a connection
    that is not one the database dropped (a restart): that one is replaced, not reused."""
    close_old_connections()
    return read(*args)


def resume_point(last_event_id: str) -> tuple[str, int]:
    """Where a subscriber resumes: the cursor for the response's ``Last-Event-ID`` (draft-07)
    or ``Mercure-Last-Event-ID`` header, and the sequence number to replay after.

    Resuming, the cursor is the id of the update just before the first one replayed: the
    requested id itself when the history holds it, else ``earliest`` (an unknown, pruned or
    ``earliest`` id replays all the history). Not resuming (draft-07 only), it is the newest
    public update's id: the header must not show anyone a private update's id.
    """
    if not last_event_id:
        return last_public_id() or EARLIEST, 0
    after = position(last_event_id)
    if not after:
        return EARLIEST, 0
    return last_event_id, after


def position(event_id: str) -> int | None:
    """The sequence number to resume after: 0 for ``earliest``, None for an unknown id."""
    if event_id == EARLIEST:
        return 0
    return StoredUpdate.objects.filter(uid=event_id).order_by("seq").values_list("seq", flat=True).first()


def newest_seq() -> int:
    """The sequence number of the newest stored update (0 when there is none)."""
    return StoredUpdate.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def between(after: int, before: int, limit: int | None = None) -> list[tuple[int, Update]]:
    """The stored updates numbered strictly between ``after`` and ``before``, oldest first
    (at most ``limit``, by default ``BATCH``)."""
    rows = StoredUpdate.objects.filter(seq__gt=after, seq__lt=before).order_by("seq")[: limit or BATCH]
    return [(row.seq, row.to_update()) for row in rows]


def batch_after(seq: int, limit: int = BATCH) -> list[tuple[int, Update]]:
    """Up to ``limit`` updates stored after ``seq``, oldest first."""
    rows = StoredUpdate.objects.filter(seq__gt=seq).order_by("seq")[:limit]
    return [(row.seq, row.to_update()) for row in rows]
