import asyncio
import logging
import threading
from datetime import timedelta

import asyncpg
import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.db import IntegrityError, OperationalError, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

import hubbub
from hubbub import _history as history
from hubbub._updates import Update
from hubbub.exceptions import HistoryUnavailable
from hubbub.models import StoredUpdate
from tests.servers import POSTGRES, free_port

pytestmark = pytest.mark.django_db


def store(n: int, **kwargs) -> list[int]:
    return history.store([Update.create("t", str(i), id=f"u{i}", **kwargs) for i in range(n)])


def test_store_returns_increasing_sequence_numbers():
    seqs = store(3)
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    row = StoredUpdate.objects.get(seq=seqs[0])
    assert row.to_update() == Update.create("t", "0", id="u0")


def test_position_and_batches():
    seqs = store(5)
    assert history.position("u1") == seqs[1]
    assert history.position("earliest") == 0
    assert history.position("missing") is None
    assert [u.id for _, u in history.batch_after(seqs[1])] == ["u2", "u3", "u4"]
    assert [u.id for _, u in history.batch_after(0, limit=2)] == ["u0", "u1"]
    assert history.last_id() == "u4"


def test_newest_seq_and_between():
    assert history.newest_seq() == 0
    seqs = store(5)
    assert history.newest_seq() == seqs[-1]
    assert history.between(seqs[0], seqs[3]) == [
        (seqs[1], Update.create("t", "1", id="u1")),
        (seqs[2], Update.create("t", "2", id="u2")),
    ]
    assert [seq for seq, _ in history.between(0, seqs[-1] + 1, limit=2)] == seqs[:2]
    assert history.between(seqs[1], seqs[2]) == []


def test_resuming_after_a_retried_id_skips_nothing():
    """A retried id used to be stored again: resuming after it skipped everything between the copies."""
    [first] = history.store([Update.create("t", "x", id="same")])
    history.store([Update.create("t", id="between")])
    [again] = history.store([Update.create("t", "x", id="same")])
    assert again == first
    assert history.position("same") == first
    assert [u.id for _, u in history.batch_after(history.position("same"))] == ["between"]


def test_prune_by_count(settings):
    settings.HUBBUB_HISTORY_MAX_COUNT = 3
    store(10)
    assert history.prune() == 7
    assert list(StoredUpdate.objects.values_list("uid", flat=True)) == ["u7", "u8", "u9"]


def test_prune_by_age(settings):
    settings.HUBBUB_HISTORY_MAX_AGE = 60
    store(3)
    StoredUpdate.objects.filter(uid="u0").update(created=timezone.now() - timedelta(seconds=61))
    assert history.prune() == 1
    assert not StoredUpdate.objects.filter(uid="u0").exists()


def test_last_id_of_empty_history():
    assert history.last_id() is None


def test_send_gets_every_stored_update_once_in_sequence_order_and_nothing_is_removed():
    """Stored is acknowledged: whatever the fan-out does, nothing is taken back (a publisher told
    "not published" retried, and the update was delivered twice)."""
    [old] = history.store([Update.create("t", id="old")])
    got = []

    def send(batch):
        got.extend(batch)
        return 0  # what the old contract read as "none taken"

    updates = [Update.create("t", id="new0"), Update.create("t", id="old"), Update.create("t", id="new1")]
    results = history.store([*updates, updates[0]], send)
    assert results[1] == old and results[0] == results[3] and old < results[0] < results[2]
    assert got == [(old, updates[1]), (results[0], updates[0]), (results[2], updates[2])]
    assert list(StoredUpdate.objects.order_by("seq").values_list("uid", flat=True)) == ["old", "new0", "new1"]


def test_a_failing_send_is_logged_and_the_updates_stay_stored(caplog):
    def send(batch):
        raise ConnectionError("down")

    with caplog.at_level(logging.ERROR, logger="hubbub._history"):
        seqs = history.store([Update.create("t", id="a"), Update.create("t", id="b")], send)
    assert seqs == list(StoredUpdate.objects.order_by("seq").values_list("seq", flat=True))
    [record] = caplog.records
    assert "sending stored updates failed" in record.getMessage() and record.exc_info[0] is ConnectionError


# Retries and conflicts, on every path the history stores through: the ORM on SQLite and on
# PostgreSQL, and asyncpg (the server's path on PostgreSQL).

on_postgres = pytest.mark.django_db(databases=["default", "postgres"], transaction=True)
BACKENDS = [
    "sqlite",
    pytest.param("postgres-orm", marks=pytest.mark.postgres),
    pytest.param("postgres", marks=pytest.mark.postgres),
]


async def close_postgres() -> None:
    """Close the hub's asyncpg connection of this loop and the ORM's one to the PostgreSQL test database."""
    await close_own_connection()
    await sync_to_async(lambda: connections["postgres"].close())()  # the ORM's, in asgiref's thread


async def close_own_connection() -> None:
    """Close this loop's asyncpg connection, if any (and with it the ordering lock it may hold)."""
    connection = history._async_connections.pop(asyncio.get_running_loop(), None)
    if connection is not None:
        await connection.close()


@pytest.fixture
async def postgres_history(monkeypatch):
    """Route the update history to the PostgreSQL test database; close the hub's connection after."""
    monkeypatch.setattr(history.router, "db_for_write", lambda model, **hints: "postgres")
    yield StoredUpdate.objects.using("postgres")
    await close_postgres()


@pytest.fixture(params=BACKENDS)
async def backend(request, monkeypatch):
    """Where ``history.astore`` stores (its rows, a queryset): through the ORM on SQLite or
    on PostgreSQL, or through asyncpg on PostgreSQL."""
    if request.param == "sqlite":
        yield StoredUpdate.objects.using("default")
        return
    monkeypatch.setattr(history.router, "db_for_write", lambda model, **hints: "postgres")
    if request.param == "postgres-orm":
        monkeypatch.setattr(history, "_asyncpg_params", lambda connection: None)
    yield StoredUpdate.objects.using("postgres")
    await close_postgres()


def recorder():
    got: list[tuple[int, Update]] = []

    async def send(batch):
        got.extend(batch)
        return len(batch)  # what send returns is ignored (it once said how many the layer took)

    return got, send


def sync_recorder():
    got: list[tuple[int, Update]] = []

    def send(batch):
        got.extend(batch)
        return len(batch)

    return got, send


async def uids(rows) -> list[str]:
    return [uid async for uid in rows.order_by("seq").values_list("uid", flat=True)]


@on_postgres
async def test_a_retried_id_keeps_its_number_and_is_stored_once(backend):
    got, send = recorder()
    update = Update.create(["/a", "/b"], "one", id="r1", private=True, type="note", retry=1500)
    [seq] = await history.astore([update], send)
    [again] = await history.astore(
        [Update.create(["/a", "/b"], "one", id="r1", private=True, type="note", retry=1500)], send
    )
    assert again == seq
    assert got == [(seq, update), (seq, update)], "a retry is sent again: its first send may not have gone out"
    assert await uids(backend) == ["r1"]


@on_postgres
@pytest.mark.parametrize(
    "other",
    [
        {"topics": ["/a"]},
        {"topics": ["/b", "/a"]},
        {"data": "two"},
        {"private": False},
        {"type": None},
        {"type": "other"},
        {"retry": None},
    ],
)
async def test_the_same_id_with_other_content_is_a_conflict(backend, other):
    got, send = recorder()
    fields = {"topics": ["/a", "/b"], "data": "one", "private": True, "type": "note", "retry": 1500}
    [seq] = await history.astore([Update.create(**fields, id="c1")], send)
    got.clear()
    [result] = await history.astore([Update.create(**{**fields, **other}, id="c1")], send)
    [row] = [row async for row in backend.all()]
    assert (row.seq, row.to_update()) == (seq, Update.create(**fields, id="c1"))
    assert got == []
    assert isinstance(result, hubbub.UpdateConflict) and result.status == 409
    assert "c1" in str(result)


@on_postgres
async def test_duplicates_within_one_batch(backend):
    got, send = recorder()
    a, b = Update.create("/a", "a", id="d-a"), Update.create("/b", "b", id="d-b")
    results = await history.astore(
        [a, b, Update.create("/a", "a", id="d-a"), Update.create("/a", "A!", id="d-a")], send
    )
    assert results[0] == results[2] and results[1] > results[0]
    assert isinstance(results[3], hubbub.UpdateConflict)
    assert got == [(results[0], a), (results[1], b)]
    assert await uids(backend) == ["d-a", "d-b"]


@on_postgres
async def test_a_batch_of_retries_and_new_updates_is_sent_in_sequence_order(backend):
    got, send = recorder()
    old = [Update.create("/a", str(n), id=f"o{n}") for n in range(3)]
    seqs = await history.astore(old, send)
    got.clear()
    new = Update.create("/a", "new", id="n0")
    results = await history.astore([old[2], new, old[0]], send)
    assert results[0] == seqs[2] and results[2] == seqs[0] and results[1] > seqs[2]
    assert got == [(seqs[0], old[0]), (seqs[2], old[2]), (results[1], new)]
    assert await uids(backend) == ["o0", "o1", "o2", "n0"]


@on_postgres
async def test_a_failing_send_keeps_the_updates(backend, caplog):
    async def broken(batch):
        raise ConnectionError("redis went away")

    seqs = await history.astore([Update.create("/a", id=f"f{n}") for n in range(2)], broken)
    assert len(seqs) == 2 and all(isinstance(seq, int) for seq in seqs)
    assert await uids(backend) == ["f0", "f1"]
    assert any("sending stored updates failed" in r.getMessage() for r in caplog.records)
    got, send = recorder()
    assert await history.astore([Update.create("/a", id="f0")], send) == [seqs[0]]  # and the lock was released
    assert got == [(seqs[0], Update.create("/a", id="f0"))]


@on_postgres
def test_the_same_id_published_at_once_from_two_processes_is_stored_once(postgres_history):
    """Two event loops with their own connections (two workers) store the same ids at once:
    each id is stored once, and both are answered with its number."""
    results: dict[str, list] = {}

    async def nothing(batch):
        return len(batch)

    def worker(name: str) -> None:
        async def run():
            try:
                results[name] = [
                    (await history.astore([Update.create("/a", "same", id=f"s{i}")], nothing))[0] for i in range(20)
                ]
            finally:
                await close_own_connection()

        asyncio.run(run())

    threads = [threading.Thread(target=worker, args=(name,)) for name in "xy"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a worker is stuck (waiting for the ordering lock?)"
    assert results["x"] == results["y"]
    assert postgres_history.count() == 20


# When the database fails after the INSERT went out, nobody knows at first whether it kept
# the updates: the hub asks again, on a new connection, for up to _VERIFY_FOR seconds.


@pytest.fixture
def verify_quickly(monkeypatch):
    monkeypatch.setattr(history, "_VERIFY_FOR", 0.5, raising=False)


@pytest.fixture(params=["default", pytest.param("postgres", marks=pytest.mark.postgres)])
def orm(request, monkeypatch):
    """The ORM path on SQLite and on PostgreSQL: the alias and its connection."""
    alias = request.param
    monkeypatch.setattr(history.router, "db_for_write", lambda model, **hints: alias)
    yield alias, connections[alias]
    connections[alias].close()


def commit_then(connection, monkeypatch, *, committed: bool, afterwards=None):
    """Make the next commit on ``connection`` fail as a dropped connection does: after the
    server committed (``committed``) or before; then run ``afterwards``."""
    real_commit, real_rollback = connection.commit, connection.rollback

    def failing():
        monkeypatch.setattr(connection, "commit", real_commit)
        real_commit() if committed else real_rollback()
        if afterwards is not None:
            afterwards()
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(connection, "commit", failing)


def unreachable(connection, monkeypatch, attempts: int | None = None, failures: list | None = None):
    """Every new query on ``connection`` fails (the first ``attempts`` ones, if given),
    each noted in ``failures``."""
    real = connection.cursor
    failures = [] if failures is None else failures

    def cursor():
        if attempts is None or len(failures) < attempts:
            failures.append(1)
            raise OperationalError("connection refused")
        return real()

    monkeypatch.setattr(connection, "cursor", cursor)
    return failures


@pytest.mark.django_db(databases=["default", "postgres"], transaction=True)
def test_orm_a_lost_reply_to_a_commit_that_went_through_is_a_success(orm, monkeypatch, verify_quickly):
    alias, connection = orm
    commit_then(connection, monkeypatch, committed=True)
    got, send = sync_recorder()
    [seq] = history.store([Update.create("/a", "kept", id="k1")], send)
    assert got == [(seq, Update.create("/a", "kept", id="k1"))]
    assert list(StoredUpdate.objects.using(alias).values_list("seq", "uid")) == [(seq, "k1")]


@pytest.mark.django_db(databases=["default", "postgres"], transaction=True)
def test_orm_a_database_back_within_the_wait_tells(orm, monkeypatch):
    alias, connection = orm
    failures: list = []
    commit_then(
        connection, monkeypatch, committed=True, afterwards=lambda: unreachable(connection, monkeypatch, 2, failures)
    )
    got, send = sync_recorder()
    [seq] = history.store([Update.create("/a", id="k2")], send)
    assert len(failures) == 2
    assert got == [(seq, Update.create("/a", id="k2"))]
    assert list(StoredUpdate.objects.using(alias).values_list("seq", "uid")) == [(seq, "k2")]


@pytest.mark.django_db(databases=["default", "postgres"], transaction=True)
def test_orm_a_commit_that_did_not_go_through_is_history_unavailable(orm, monkeypatch, verify_quickly):
    alias, connection = orm
    commit_then(connection, monkeypatch, committed=False)
    got, send = sync_recorder()
    with pytest.raises(HistoryUnavailable, match="unreachable"):
        history.store([Update.create("/a", id="n1")], send)
    assert got == []
    assert not StoredUpdate.objects.using(alias).exists()


@pytest.mark.django_db(databases=["default", "postgres"], transaction=True)
def test_orm_a_database_that_cannot_tell_is_outcome_unknown_and_a_retry_is_safe(orm, monkeypatch, verify_quickly):
    alias, connection = orm
    commit_then(connection, monkeypatch, committed=True, afterwards=lambda: unreachable(connection, monkeypatch))
    got, send = sync_recorder()
    with pytest.raises(hubbub.HubbubError, match="publish again with the same id") as raised:
        history.store([Update.create("/a", id="u1")], send)
    assert isinstance(raised.value, hubbub.OutcomeUnknown) and raised.value.status == 504
    assert got == []
    monkeypatch.undo()
    monkeypatch.setattr(history.router, "db_for_write", lambda model, **hints: alias)
    [seq] = history.store([Update.create("/a", id="u1")], send)
    assert list(StoredUpdate.objects.using(alias).values_list("seq", "uid")) == [(seq, "u1")]
    assert got == [(seq, Update.create("/a", id="u1"))]


class LosingConnection:
    """asyncpg's connection, but the reply to the next insert is lost: the statement runs
    (``reaches``) or not, then the connection breaks; ``afterwards`` runs in between."""

    def __init__(self, connection, reaches: bool, afterwards=None):
        self.connection, self.reaches, self.afterwards = connection, reaches, afterwards

    def __getattr__(self, name):
        return getattr(self.connection, name)

    async def fetch(self, query, *args):
        if self.reaches:
            await self.connection.fetch(query, *args)
        self.connection.terminate()
        if self.afterwards is not None:
            self.afterwards()
        raise ConnectionResetError("connection lost")


def lose_next_reply(monkeypatch, *, reaches: bool, afterwards=None):
    real = history._async_connection

    async def connection(params):
        monkeypatch.setattr(history, "_async_connection", real)
        return LosingConnection(await real(params), reaches, afterwards)

    monkeypatch.setattr(history, "_async_connection", connection)


@on_postgres
async def test_asyncpg_a_lost_reply_to_an_insert_that_went_through_is_a_success(postgres_history, monkeypatch):
    lose_next_reply(monkeypatch, reaches=True)
    got, send = recorder()
    updates = [Update.create("/a", "kept", id="k1"), Update.create("/a", "too", id="k2")]
    seqs = await history.astore(updates, send)
    assert got == list(zip(seqs, updates, strict=True))
    assert [(row.seq, row.uid) async for row in postgres_history.order_by("seq")] == list(
        zip(seqs, ["k1", "k2"], strict=True)
    )


@on_postgres
async def test_asyncpg_an_insert_that_did_not_go_through_is_history_unavailable(postgres_history, monkeypatch):
    lose_next_reply(monkeypatch, reaches=False)
    got, send = recorder()
    with pytest.raises(HistoryUnavailable):
        await history.astore([Update.create("/a", id="n1")], send)
    assert got == [] and not await postgres_history.aexists()
    assert await history.astore([Update.create("/a", id="n1")], send) != []  # and the lock was released


@on_postgres
async def test_asyncpg_a_database_that_cannot_tell_is_outcome_unknown_and_a_retry_is_safe(
    postgres_history, monkeypatch, verify_quickly
):
    real_connect = asyncpg.connect

    async def refused(*args, **kwargs):
        raise ConnectionRefusedError("connection refused")

    lose_next_reply(monkeypatch, reaches=True, afterwards=lambda: monkeypatch.setattr(asyncpg, "connect", refused))
    got, send = recorder()
    with pytest.raises(hubbub.HubbubError, match="publish again with the same id") as raised:
        await history.astore([Update.create("/a", id="u1")], send)
    assert isinstance(raised.value, hubbub.OutcomeUnknown)
    assert got == []
    monkeypatch.setattr(asyncpg, "connect", real_connect)
    [seq] = await history.astore([Update.create("/a", id="u1")], send)
    assert got == [(seq, Update.create("/a", id="u1"))]
    assert [(row.seq, row.uid) async for row in postgres_history.all()] == [(seq, "u1")]


@on_postgres
async def test_asyncpg_a_database_back_within_the_wait_tells(postgres_history, monkeypatch):
    real_connect = asyncpg.connect
    attempts = []

    async def back_on_the_third(*args, **kwargs):
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionRefusedError("connection refused")
        return await real_connect(*args, **kwargs)

    lose_next_reply(
        monkeypatch, reaches=True, afterwards=lambda: monkeypatch.setattr(asyncpg, "connect", back_on_the_third)
    )
    got, send = recorder()
    [seq] = await history.astore([Update.create("/a", id="b1")], send)
    assert len(attempts) >= 3 and got == [(seq, Update.create("/a", id="b1"))]


# On PostgreSQL: the server's own path (asyncpg, one advisory lock across processes)


@on_postgres
async def test_astore_on_postgresql_stores_then_sends_in_order(postgres_history):
    updates = [
        Update.create(["/a", "/b"], "one", id="p1", private=True, type="note", retry=1500),
        Update.create("/a", "two", id="p2"),
        Update.create("/c", "", id="p3"),
    ]
    got, send = recorder()
    seqs = await history.astore(updates, send)
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert got == list(zip(seqs, updates, strict=True))
    rows = [row async for row in postgres_history.order_by("seq")]
    assert [row.seq for row in rows] == seqs
    assert [row.to_update() for row in rows] == updates


def test_the_numbers_an_insert_drew_are_told_only_when_what_it_stored_shows_them():
    firsts = {uid: Update.create("/a", id=uid) for uid in "abc"}
    assert history._drawn(firsts, {"b": 11}) == (9, 12)  # a drew 10, c 12
    assert history._drawn(firsts, {"a": 10, "c": 12}) == (9, 12)
    assert history._drawn(firsts, {"a": 10, "c": 13}) is None  # not one number a row, in order
    assert history._drawn(firsts, {}) is None


@on_postgres
async def test_astore_on_postgresql_sends_what_it_stored_covering_the_numbers_it_drew(postgres_history):
    """Rows whose ids are stored already (retries) draw numbers that are never stored: the
    batch of new updates covers them, so that no receiver waits for them."""
    sent: list[tuple[int, int, list[str]]] = []

    async def send(batch):
        sent.append((batch.after, batch.upto, [update.id for _, update in batch]))

    first, second = await history.astore([Update.create("/a", id="r1"), Update.create("/a", id="r2")], send)
    assert sent == [(first - 1, second, ["r1", "r2"])]
    sent.clear()
    mixed = [Update.create("/a", id=uid) for uid in ("r1", "n1", "r2", "n2")]
    assert await history.astore(mixed, send) == [first, second + 2, second, second + 4]
    assert sent == [
        (first - 1, first, ["r1"]),  # each retried update on its own
        (second - 1, second, ["r2"]),
        (second, second + 4, ["n1", "n2"]),  # second + 1 and + 3 were drawn for r1 and r2
    ]


@on_postgres
async def test_astore_on_postgresql_stores_the_largest_fields_an_update_may_have(postgres_history):
    update = Update.create(["/ü/" + "t" * 200, "/b"], "data ✓ \n line", id="i" * 512, type="t" * 255, retry=2**31 - 1)
    got, send = recorder()
    [seq] = await history.astore([update], send)
    assert (await postgres_history.aget(seq=seq)).to_update() == update
    assert await history.astore([update], send) == [seq]  # and compares equal to itself when retried


@on_postgres
async def test_astore_on_postgresql_a_failing_send_keeps_everything_and_holds_no_lock(postgres_history):
    async def broken(batch):
        raise ConnectionError("redis went away")

    [seq] = await history.astore([Update.create("/a", id="kept")], broken)
    assert [row.seq async for row in postgres_history.all()] == [seq]
    database = connections["postgres"].settings_dict["NAME"]  # advisory locks are per database
    async with await psycopg.AsyncConnection.connect(f"{POSTGRES}/{database}", autocommit=True) as other_process:
        cursor = await other_process.execute("SELECT pg_try_advisory_lock(%s)", [history._ADVISORY_LOCK])
        assert await cursor.fetchone() == (True,)


@on_postgres
def test_astore_on_postgresql_commits_in_sequence_order_across_connections(postgres_history):
    """Four event loops, each with its own connection (as worker processes have),
    publishing at once: whenever a batch is sent, every update numbered below it is
    already committed, so what a reader finds in the history is final (no number below
    the newest can appear later), and a receiver missing one may read it at once."""
    database = connections["postgres"].settings_dict["NAME"]
    seen: list[tuple[int, set[int]]] = []
    guard = threading.Lock()

    def worker(name: str) -> None:
        async def run():
            reader = await psycopg.AsyncConnection.connect(f"{POSTGRES}/{database}", autocommit=True)

            async def send(batch):
                newest = batch[-1][0]
                cursor = await reader.execute(f"SELECT seq FROM {history._TABLE} WHERE seq <= %s", [newest])
                with guard:
                    seen.append((newest, {seq for (seq,) in await cursor.fetchall()}))

            try:
                for i in range(25):
                    await history.astore([Update.create("/a", id=f"{name}{i}-{j}") for j in range(2)], send)
            finally:
                await reader.close()
                await close_own_connection()

        asyncio.run(run())

    threads = [threading.Thread(target=worker, args=(name,)) for name in "wxyz"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a worker is stuck (waiting for the ordering lock?)"
    stored = set(StoredUpdate.objects.using("postgres").values_list("seq", flat=True))
    assert len(stored) == 4 * 50 and len(seen) == 4 * 25
    for newest, visible in seen:
        assert visible == {seq for seq in stored if seq <= newest}


@on_postgres
async def test_astore_on_postgresql_replaces_a_connection_the_server_closed(postgres_history):
    got, send = recorder()
    await history.astore([Update.create("/a", id="before")], send)
    connection = history._async_connections[asyncio.get_running_loop()]
    async with await psycopg.AsyncConnection.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", [connection.get_server_pid()])
    for _ in range(100):
        if connection.is_closed():
            break
        await asyncio.sleep(0.01)
    await history.astore([Update.create("/a", id="after")], send)
    assert [u.id for _, u in got] == ["before", "after"]
    assert [uid async for uid in postgres_history.values_list("uid", flat=True)] == ["before", "after"]


@on_postgres
async def test_astore_with_postgresql_unreachable_raises_history_unavailable(postgres_history, monkeypatch):
    params = history._asyncpg_params(connections["postgres"])
    monkeypatch.setattr(history, "_asyncpg_params", lambda connection: {**params, "port": free_port()})
    got, send = recorder()
    with pytest.raises(HistoryUnavailable, match="unreachable"):
        await history.astore([Update.create("/a")], send)
    assert got == []


@on_postgres
async def test_astore_with_postgresql_not_answering_raises_history_unavailable(postgres_history, monkeypatch):
    async def silent(reader, writer):
        await reader.read()  # accepts the connection, never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    params = history._asyncpg_params(connections["postgres"])
    monkeypatch.setattr(history, "_asyncpg_params", lambda connection: {**params, "port": port, "timeout": 0.5})
    got, send = recorder()
    async with server:
        with pytest.raises(HistoryUnavailable):
            await asyncio.wait_for(history.astore([Update.create("/a")], send), timeout=5)
    assert got == []


def test_asyncpg_params_follow_the_database_settings(settings):
    assert history._asyncpg_params(connections["default"]) is None  # SQLite: the ORM path
    postgres = connections["postgres"]
    params = history._asyncpg_params(postgres)
    assert params is not None
    assert (params["host"], params["port"], params["user"], params["dsn"]) == ("127.0.0.1", 5432, "postgres", None)
    assert (params["timeout"], params["command_timeout"]) == (10, 30)
    assert params["database"] == postgres.settings_dict["NAME"]
    options = postgres.settings_dict["OPTIONS"]
    try:
        postgres.settings_dict["OPTIONS"] = {"sslmode": "require", "cursor_factory": object}
        assert history._asyncpg_params(postgres)["dsn"] == "postgresql://?sslmode=require"
        postgres.settings_dict["OPTIONS"] = {"options": "-c search_path=other"}
        assert history._asyncpg_params(postgres) is None  # only libpq knows it: the ORM path
    finally:
        postgres.settings_dict["OPTIONS"] = options


# Migration 0002: ids become unique; a history kept before holds duplicates


@pytest.mark.django_db(databases=["default", "postgres"], transaction=True)
@pytest.mark.parametrize("alias", ["default", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_migration_0002_keeps_the_oldest_copy_of_each_id(alias):
    connection = connections[alias]
    before, after = [("hubbub", "0001_initial")], [("hubbub", "0002_unique_update_id")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old_model = executor.loader.project_state(before).apps.get_model("hubbub", "StoredUpdate")
        now = timezone.now()
        for uid, data in [("a", "1"), ("b", "2"), ("a", "3"), ("c", "4"), ("b", "5"), ("a", "6")]:
            old_model.objects.using(alias).create(uid=uid, topics=["/t"], data=data, created=now)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(after)
    rows = StoredUpdate.objects.using(alias).order_by("seq")
    assert [(row.uid, row.data) for row in rows] == [("a", "1"), ("b", "2"), ("c", "4")]
    with pytest.raises(IntegrityError):
        StoredUpdate.objects.using(alias).create(uid="a", topics=["/t"], created=now)
