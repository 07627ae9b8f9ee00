"""Message search on SQLite (FTS5) and PostgreSQL (full-text search), and elsewhere (icontains)."""

from __future__ import annotations

import pytest
from django.db import connections, router

from hubbub.contrib.chat import direct, receivers, search
from hubbub.contrib.chat.models import Message, Room

from .conftest import make_guest


@pytest.fixture(
    params=[
        pytest.param("default", marks=pytest.mark.django_db),
        pytest.param(
            "postgres", marks=[pytest.mark.postgres, pytest.mark.django_db(databases=["default", "postgres"])]
        ),
    ]
)
def database(request, monkeypatch):
    """The alias every model is read and written on: SQLite (the test settings' default) or PostgreSQL."""
    alias = request.param
    if alias != "default":
        monkeypatch.setattr(router, "db_for_write", lambda model, **hints: alias)
        monkeypatch.setattr(router, "db_for_read", lambda model, **hints: alias)
    return alias


@pytest.fixture
def people(database):
    ann, ben, cy = (make_guest(name) for name in ("ann", "ben", "cy"))
    general, _ = Room.objects.get_or_create(slug="general", defaults={"name": "General"})
    hidden = Room.objects.create(slug="hidden", name="Hidden", is_private=True, created_by=ann)
    hidden.members.add(ann)
    return ann, ben, cy, general, hidden


def texts(user, query: str) -> list[str]:
    return [hit.message.text for hit in search.search(user, query)]


def test_every_word_must_match_stemmed_newest_first(people):
    ann, _, _, general, _ = people
    for text in ("Planning the meeting on Monday", "meetings are long", "Monday again", "nothing here"):
        Message.objects.create(room=general, author=ann, text=text)
    assert texts(ann, "meeting") == ["meetings are long", "Planning the meeting on Monday"]
    assert texts(ann, "MEETINGS monday") == ["Planning the meeting on Monday"]
    assert texts(ann, "tuesday") == []
    [hit] = search.search(ann, "planning")
    assert "<mark>Planning</mark>" in hit.snippet and "Monday" in hit.snippet


def test_a_private_rooms_messages_reach_its_members_only(people):
    ann, ben, cy, general, hidden = people
    Message.objects.create(room=general, author=ann, text="secret plans in public")
    Message.objects.create(room=hidden, author=ann, text="secret plans in private")
    conversation, _ = direct.start(ben, [cy])
    Message.objects.create(room=conversation, author=ben, text="secret plans between two")
    assert sorted(texts(ann, "secret plans")) == ["secret plans in private", "secret plans in public"]
    assert texts(ben, "secret plans") == ["secret plans between two", "secret plans in public"]
    assert texts(cy, "private") == [] and texts(ann, "two") == []
    hidden.members.add(cy)
    assert "secret plans in private" in texts(cy, "secret")
    hidden.members.remove(cy)
    assert texts(cy, "private") == []


def test_snippets_are_escaped_with_the_matches_marked(people):
    ann, _, _, general, _ = people
    Message.objects.create(room=general, author=ann, text='<img src=x onerror="alert(1)"> release <b>now</b>')
    Message.objects.create(room=general, author=ann, text="Tom & Jerry's <3 update")
    [hit] = search.search(ann, "release")
    # Escaped (SQLite) or left out (PostgreSQL's headline drops what looks like a tag): never markup.
    assert "<img" not in hit.snippet and "<b>" not in hit.snippet and "<mark>release</mark>" in hit.snippet
    [hit] = search.search(ann, "update")
    assert "Tom &amp; Jerry&#x27;s &lt;3 <mark>update</mark>" in hit.snippet


def test_the_index_follows_edits_and_deletions(people):
    ann, _, _, general, _ = people
    kept = Message.objects.create(room=general, author=ann, text="apples")
    gone = Message.objects.create(room=general, author=ann, text="apples and pears")
    Message.objects.filter(pk=kept.pk).update(text="oranges")
    gone.delete()
    assert texts(ann, "apples") == []
    assert texts(ann, "orange") == ["oranges"]
    general.delete()  # its messages go with it
    assert texts(ann, "orange") == []


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("!!! ...", "at least one word"),
        ("x" * 201, "at most 200 characters"),
        ("a\x00b", "NUL"),
        (" ".join("w" * 3 for _ in range(11)) + " 1 2 3 4 5 6 7 8 9 10", "at most 10 words"),
    ],
)
def test_queries_without_words_or_too_long_are_refused_in_words(query, reason):
    with pytest.raises(search.BadQuery, match=reason):
        search.words(query)


def test_operators_of_the_search_syntax_are_plain_words(people):
    ann, _, _, general, _ = people
    Message.objects.create(room=general, author=ann, text="cats OR dogs NEAR here")
    assert texts(ann, 'cats OR "dogs" NEAR* (here) -x:y') == []  # x and y are words too
    assert texts(ann, 'cats OR "dogs" NEAR* (here)') == ["cats OR dogs NEAR here"]


@pytest.mark.postgres
@pytest.mark.django_db(databases=["default", "postgres"])
def test_postgresql_answers_from_the_gin_index():
    with connections["postgres"].cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute(
                "EXPLAIN SELECT id FROM hubbub_chat_message "
                "WHERE to_tsvector('english'::regconfig, text) @@ plainto_tsquery('english'::regconfig, 'x')"
            )
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")
    assert search.POSTGRESQL_INDEX in plan


@pytest.mark.django_db
def test_sqlite_triggers_dropped_by_a_table_copy_come_back_after_migrate(alice, general):
    connection = connections["default"]
    Message.objects.create(room=general, author=alice, text="before")
    with connection.cursor() as cursor:
        for name in search._SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER {name}")  # as a table copy by a later migration would
    Message.objects.create(room=general, author=alice, text="while missing")
    assert texts(alice, "missing") == []
    receivers.search_triggers(sender=type("App", (), {"label": "hubbub_chat"})(), using="default")
    assert texts(alice, "missing") == ["while missing"] and texts(alice, "before") == ["before"]
    Message.objects.create(room=general, author=alice, text="after missing")
    assert texts(alice, "missing") == ["after missing", "while missing"]
    assert not search.ensure_sqlite_triggers(connection)  # whole: nothing to do


@pytest.mark.django_db
def test_other_databases_match_words_anywhere_ignoring_case(alice, general):
    Message.objects.create(room=general, author=alice, text="Short <b>Notice</b>")
    Message.objects.create(room=general, author=alice, text="word " * 100 + "needle " + "word " * 100)
    readable = Message.objects.all()
    marks = ("[", "]")
    assert search._anywhere(readable, ["notice"], marks) == [(Message.objects.first().pk, "Short <b>[Notice]</b>")]
    [(_, snippet)] = search._anywhere(readable, ["NEEDLE"], marks)
    assert snippet.startswith("…word") and "[needle]" in snippet and snippet.endswith("…") and len(snippet) < 260


def test_installing_the_index_does_nothing_on_other_databases():
    class Elsewhere:
        vendor = "mysql"

        def cursor(self):
            raise AssertionError("no SQL on other databases")

    search.install(Elsewhere())  # type: ignore[arg-type]
    search.uninstall(Elsewhere())  # type: ignore[arg-type]
