"""Searching the messages a person may read (public rooms, the private rooms and direct
conversations they are in), by words, newest first.

Every word must occur (English stemming: "meeting" finds "meetings"). The database does the
matching where it can: PostgreSQL's full-text search over an expression GIN index on
``to_tsvector('english', text)``, SQLite's FTS5 table ``hubbub_chat_message_fts`` kept in sync
by triggers (both made by migration ``0009_message_search``); other databases compare words with
``icontains``. Each hit carries a snippet of the text: escaped, with the matches in ``<mark>``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Func, QuerySet
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .models import Message, Room

# The text search configuration (PostgreSQL) that the index and the queries share; SQLite's
# FTS5 table stems English words too (the porter tokenizer).
CONFIG = "english"
MAX_QUERY_LENGTH = 200
MAX_WORDS = 10
MAX_RESULTS = 50
# Words of context around the matches in a snippet.
SNIPPET_WORDS = 24

FTS_TABLE = "hubbub_chat_message_fts"
_MESSAGE_TABLE = "hubbub_chat_message"
_SQLITE_TRIGGERS = {
    f"{FTS_TABLE}_insert": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_insert AFTER INSERT ON {_MESSAGE_TABLE} BEGIN
            INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text);
        END""",
    f"{FTS_TABLE}_delete": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_delete AFTER DELETE ON {_MESSAGE_TABLE} BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text);
        END""",
    f"{FTS_TABLE}_update": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_update AFTER UPDATE OF text ON {_MESSAGE_TABLE} BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text);
            INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text);
        END""",
}
POSTGRESQL_INDEX = "hubbub_chat_message_search"


class BadQuery(ValueError):
    """A query that cannot be searched for; its message says why, in words."""


@dataclass
class Hit:
    message: Message
    snippet: SafeString


def words(query: str) -> list[str]:
    """The words of ``query`` (letters and digits, in any script), or BadQuery saying why none."""
    if len(query) > MAX_QUERY_LENGTH:
        raise BadQuery(f"Search for at most {MAX_QUERY_LENGTH} characters: this is {len(query)}.")
    if "\x00" in query:
        raise BadQuery("The search contains a NUL character (\\x00): remove it and search again.")
    found = [word for word in re.findall(r"[^\W_]+", query)]
    if not found:
        raise BadQuery("Search for at least one word (letters or digits).")
    if len(found) > MAX_WORDS:
        raise BadQuery(f"Search for at most {MAX_WORDS} words: this is {len(found)}.")
    return list(dict.fromkeys(found))


def search(user: Any, query: str) -> list[Hit]:
    """The messages ``user`` may read with every word of ``query``, newest first (at most
    ``MAX_RESULTS``); BadQuery for a query without words, or too long."""
    terms = words(query)
    readable = Message.objects.visible().filter(room__in=Room.objects.readable_by(user).values("pk"))
    alias = router.db_for_read(Message)
    vendor = connections[alias].vendor
    # Markers the text cannot hold (drawn for each search), turned into <mark> once it is escaped.
    marks = (f"hubbubmark{secrets.token_hex(8)}", f"hubbubmarkend{secrets.token_hex(8)}")
    if vendor == "postgresql":
        found = _postgresql(readable, terms, marks)
    elif vendor == "sqlite":
        found = _sqlite(readable.using(alias), alias, terms, marks)
    else:
        found = _anywhere(readable, terms, marks)
    # The rooms' members name direct conversations for the reader (``Room.title_for``).
    rows = Message.objects.using(alias).select_related("room", "author", "attachment").prefetch_related("room__members")
    messages = rows.in_bulk([pk for pk, _ in found])
    return [Hit(messages[pk], _marked(snippet, marks)) for pk, snippet in found if pk in messages]


def _marked(snippet: str, marks: tuple[str, str]) -> SafeString:
    start, stop = marks
    return mark_safe(escape(snippet).replace(start, "<mark>").replace(stop, "</mark>"))  # escaped above


def _postgresql(readable: QuerySet[Message], terms: list[str], marks: tuple[str, str]) -> list[tuple[int, str]]:
    from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchVectorField

    # The indexed expression itself (SearchVector would wrap the column in COALESCE, which the
    # index does not cover).
    document = Func(F("text"), template=f"to_tsvector('{CONFIG}'::regconfig, %(expressions)s)")
    document.output_field = SearchVectorField()
    query = SearchQuery(" ".join(terms), config=CONFIG, search_type="plain")
    snippet = SearchHeadline(
        "text", query, config=CONFIG, start_sel=marks[0], stop_sel=marks[1], max_words=SNIPPET_WORDS, min_words=8
    )
    rows = (
        readable.annotate(document=document)
        .filter(document=query)
        .annotate(snippet=snippet)
        .order_by("-id")
        .values_list("id", "snippet")[:MAX_RESULTS]
    )
    return list(rows)


def _sqlite(readable: QuerySet[Message], alias: str, terms: list[str], marks: tuple[str, str]) -> list[tuple[int, str]]:
    # Each word as an FTS5 string (no operator, column filter or prefix), all of them required.
    match = " ".join('"{}"'.format(term.replace('"', '""')) for term in terms)
    allowed, allowed_params = readable.values("id").query.get_compiler(using=alias).as_sql()
    sql = (
        f"SELECT {FTS_TABLE}.rowid, snippet({FTS_TABLE}, 0, %s, %s, '…', {SNIPPET_WORDS}) FROM {FTS_TABLE} "
        f"WHERE {FTS_TABLE} MATCH %s AND {FTS_TABLE}.rowid IN ({allowed}) "
        f"ORDER BY {FTS_TABLE}.rowid DESC LIMIT {MAX_RESULTS}"
    )
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [marks[0], marks[1], match, *allowed_params])
        return [(int(pk), snippet) for pk, snippet in cursor.fetchall()]


def _anywhere(readable: QuerySet[Message], terms: list[str], marks: tuple[str, str]) -> list[tuple[int, str]]:
    """Any other database: every word somewhere in the text, ignoring case (no stemming, no index)."""
    for term in terms:
        readable = readable.filter(text__icontains=term)
    pattern = re.compile("|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True)), re.IGNORECASE)
    found = []
    for pk, text in readable.order_by("-id").values_list("id", "text")[:MAX_RESULTS]:
        first = pattern.search(text)
        begin = max(0, text.rfind(" ", 0, max(0, first.start() - 60)) + 1) if first else 0
        part = text[begin : begin + 240]
        snippet = ("…" if begin else "") + pattern.sub(lambda m: f"{marks[0]}{m.group(0)}{marks[1]}", part)
        found.append((pk, snippet + ("…" if begin + 240 < len(text) else "")))
    return found


# The index, made by the migration (and, on SQLite, made whole again after any migration).


def install(connection: BaseDatabaseWrapper) -> None:
    """Create the search index on ``connection``'s database: nothing to do on other vendors."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {POSTGRESQL_INDEX} ON {_MESSAGE_TABLE} "
                f"USING GIN (to_tsvector('{CONFIG}'::regconfig, text))"
            )
    elif connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(text, content='{_MESSAGE_TABLE}', "
                "content_rowid='id', tokenize='porter unicode61')"
            )
            ensure_sqlite_triggers(connection)


def ensure_sqlite_triggers(connection: BaseDatabaseWrapper) -> bool:
    """Make the SQLite triggers that keep the FTS5 table in step with the messages, if any is
    missing, then rebuild the table from the messages; whether it had to.

    A migration that alters the message table on SQLite copies it to a new one and drops the
    old with its triggers: the ``post_migrate`` receiver calls this after every ``migrate``."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = %s", [FTS_TABLE])
        if cursor.fetchone() is None:
            return False  # not migrated this far
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [_MESSAGE_TABLE])
        present = {name for (name,) in cursor.fetchall()}
        if present >= set(_SQLITE_TRIGGERS):
            return False
        for sql in _SQLITE_TRIGGERS.values():
            cursor.execute(sql)
        cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
    return True


def uninstall(connection: BaseDatabaseWrapper) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {POSTGRESQL_INDEX}")
    elif connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for name in _SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
