"""The unread count the events carry, when a mark-read and a new notification for one user race."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.db import connections, router

import hubbub
from hubbub.contrib import notifications
from hubbub.contrib.notifications.models import Notification
from hubbub.contrib.notifications.reading import mark_read
from hubbub.contrib.notifications.topics import user_topic
from tests.published import published

# How long a writer that neither finishes nor is seen waiting on PostgreSQL may take before it
# counts as held back (SQLite tells nothing about its waits; the process lock is Python's).
GRACE_SECONDS = 0.5


@pytest.fixture
def database(request, monkeypatch):
    """The alias every model (users, notifications, the hub's history) is read and written on."""
    alias = request.param
    if alias != "default":
        monkeypatch.setattr(router, "db_for_write", lambda model, **hints: alias)
        monkeypatch.setattr(router, "db_for_read", lambda model, **hints: alias)
    yield alias
    connections[alias].close()


def _in_thread(
    database: str, work: Callable[[], object], go: threading.Event | None = None
) -> tuple[threading.Thread, dict]:
    """A thread running ``work`` (once ``go`` is set) on a database connection of its own."""
    state: dict = {}

    def run() -> None:
        try:
            connection = connections[database]
            if connection.vendor == "postgresql":
                connection.ensure_connection()
                state["pid"] = connection.connection.info.backend_pid
            if go is not None:
                assert go.wait(10), "the first writer never reached the hub"
            work()
        except BaseException as error:
            state["error"] = error
        finally:
            connections.close_all()

    return threading.Thread(target=run), state


def _waiting_on_a_lock(database: str, pid: int) -> bool:
    with connections[database].cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


@pytest.mark.parametrize(
    "database",
    [
        pytest.param("postgres", marks=pytest.mark.django_db(databases=["default", "postgres"], transaction=True)),
        pytest.param("default", marks=pytest.mark.django_db(transaction=True)),
    ],
    indirect=True,
)
@pytest.mark.parametrize("first_writer", ["mark_read", "notify"])
def test_the_last_event_carries_the_final_unread_count_when_writers_race(database, monkeypatch, first_writer):
    """The first writer stops just before its event goes to the hub, its count taken; the
    second then runs as far as it can (to its end, or until it waits on a lock the first
    holds) before the first goes on. Whatever the interleaving, the event that reaches the
    page last must carry the count the database ends up with."""
    alice = get_user_model().objects.create_user("alice")
    seen, _ = notifications.notify(alice, "seen"), notifications.notify(alice, "unseen")

    def read() -> None:
        mark_read(alice, [seen.pk])

    def new() -> None:
        notifications.notify(alice, "new")

    first_work, second_work = (read, new) if first_writer == "mark_read" else (new, read)
    paused = threading.Event()
    second, second_state = _in_thread(database, second_work, go=paused)
    publish = hubbub.publish

    def held_back() -> bool:
        if "pid" in second_state:
            return _waiting_on_a_lock(database, second_state["pid"])
        return time.monotonic() > grace_ends

    def publish_once_the_second_writer_is_through_or_held_back(*args, **kwargs):
        nonlocal grace_ends
        if threading.current_thread() is first and not paused.is_set():
            paused.set()
            grace_ends = time.monotonic() + GRACE_SECONDS
            deadline = time.monotonic() + 10
            while second.is_alive() and not held_back():
                assert time.monotonic() < deadline, "the second writer neither finished nor waited on a lock"
                time.sleep(0.005)
        return publish(*args, **kwargs)

    grace_ends = 0.0
    monkeypatch.setattr(hubbub, "publish", publish_once_the_second_writer_is_through_or_held_back)
    first, first_state = _in_thread(database, first_work)
    second.start()
    first.start()
    first.join(30)
    second.join(30)
    assert not first.is_alive() and not second.is_alive()
    assert "error" not in first_state and "error" not in second_state, (first_state, second_state)
    assert paused.is_set()

    unread = Notification.objects.for_user(alice).unread().count()
    assert unread == 2
    events = [data for topics, data, _ in published() if topics == [user_topic(alice)]]
    assert len(events) == 4  # seen, unseen, then the two racing ones
    assert events[-1]["unread"] == unread, [event["unread"] for event in events]


@pytest.mark.django_db(transaction=True)
def test_a_hub_failure_is_logged_in_one_line_and_the_notification_kept(monkeypatch, caplog):
    def failing(*args, **kwargs):
        raise hubbub.FanoutUnavailable("urn:uuid:1", ConnectionError("Error 111 connecting to 127.0.0.1:6379."))

    alice = get_user_model().objects.create_user("alice")
    monkeypatch.setattr(hubbub, "publish", failing)
    with caplog.at_level("WARNING", logger="hubbub.contrib.notifications.events"):
        notifications.notify(alice, "kept")
    assert Notification.objects.get().title == "kept"
    [record] = [r for r in caplog.records if r.name == "hubbub.contrib.notifications.events"]
    assert record.exc_info is None
    assert record.getMessage() == (
        f"notifications: the 'notification' event for user {alice.pk} was not delivered live (pages catch up when "
        "they load): update urn:uuid:1 was not published, the channel layer is unreachable: "
        "Error 111 connecting to 127.0.0.1:6379."
    )
