import asyncio
import threading
from datetime import timedelta

import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.utils import timezone

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


def test_position_of_a_reused_id_is_its_latest_use():
    history.store([Update.create("t", id="same")])
    history.store([Update.create("t", id="other")])
    [latest] = history.store([Update.create("t", id="same")])
    assert history.position("same") == latest


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


def test_send_gets_the_batch_in_order_and_what_it_did_not_take_is_removed():
    got = []

    def send(batch):
        got.extend(batch)
        return 2

    seqs = history.store([Update.create("t", id=f"b{i}") for i in range(4)], send)
    assert [seq for seq, _ in got] == seqs and [u.id for _, u in got] == ["b0", "b1", "b2", "b3"]
    assert list(StoredUpdate.objects.values_list("uid", flat=True)) == ["b0", "b1"]


def test_a_failing_send_removes_the_whole_batch():
    def send(batch):
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        history.store([Update.create("t"), Update.create("t")], send)
    assert not StoredUpdate.objects.exists()


# On PostgreSQL: the server's own path (asyncpg, one advisory lock across processes)

on_postgres = pytest.mark.django_db(databases=["default", "postgres"], transaction=True)


@pytest.fixture
async def postgres_history(monkeypatch):
    """Route the update history to the PostgreSQL test database; close the hub's connection after."""
    monkeypatch.setattr(history.router, "db_for_write", lambda model, **hints: "postgres")
    yield StoredUpdate.objects.using("postgres")
    connection = history._async_connections.pop(asyncio.get_running_loop(), None)
    if connection is not None:
        await connection.close()
    await sync_to_async(lambda: connections["postgres"].close())()  # the ORM's, in asgiref's thread


def recorder(taken: int | None = None):
    got: list[tuple[int, Update]] = []

    async def send(batch):
        got.extend(batch)
        return len(batch) if taken is None else taken

    return got, send


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


@on_postgres
async def test_astore_on_postgresql_stores_the_largest_fields_an_update_may_have(postgres_history):
    update = Update.create(["/ü/" + "t" * 200, "/b"], "data ✓ \n line", id="i" * 512, type="t" * 255, retry=2**31 - 1)
    got, send = recorder()
    [seq] = await history.astore([update], send)
    assert (await postgres_history.aget(seq=seq)).to_update() == update


@on_postgres
async def test_astore_on_postgresql_removes_what_send_did_not_take(postgres_history):
    got, send = recorder(taken=1)
    await history.astore([Update.create("/a", id=f"q{i}") for i in range(3)], send)
    assert len(got) == 3
    assert [uid async for uid in postgres_history.values_list("uid", flat=True)] == ["q0"]


@on_postgres
async def test_astore_on_postgresql_a_failing_send_keeps_nothing_and_releases_the_lock(postgres_history):
    async def broken(batch):
        raise ConnectionError("redis went away")

    with pytest.raises(ConnectionError, match="redis went away"):
        await history.astore([Update.create("/a", id="lost")], broken)
    assert not await postgres_history.aexists()
    database = connections["postgres"].settings_dict["NAME"]  # advisory locks are per database
    async with await psycopg.AsyncConnection.connect(f"{POSTGRES}/{database}", autocommit=True) as other_process:
        cursor = await other_process.execute("SELECT pg_try_advisory_lock(%s)", [history._ADVISORY_LOCK])
        assert await cursor.fetchone() == (True,)


@on_postgres
def test_astore_on_postgresql_sends_in_sequence_order_across_connections(postgres_history):
    """Two event loops, each with its own connection (as two worker processes have),
    publishing at once: what reaches the channel layer is in sequence order."""
    sent: list[int] = []
    guard = threading.Lock()

    async def send(batch):
        for seq, _ in batch:
            await asyncio.sleep(0.001)
            with guard:
                sent.append(seq)
        return len(batch)

    def worker(name: str) -> None:
        async def run():
            for i in range(25):
                await history.astore([Update.create("/a", id=f"{name}{i}-{j}") for j in range(2)], send)
            await history._async_connections.pop(asyncio.get_running_loop()).close()

        asyncio.run(run())

    threads = [threading.Thread(target=worker, args=(name,)) for name in "xy"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sent) == 100
    assert sent == sorted(sent)


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
