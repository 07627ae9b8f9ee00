"""hubbub.testing: what a project's own tests use, tried as they would use it."""

import asyncio
import re
import textwrap
import time
from contextlib import AsyncExitStack

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser, User
from django.db import DatabaseError, transaction

import hubbub
from hubbub import _fanout as fanout, _history as history, _publishing as publishing, _tokens as tokens
from hubbub.testing import Event, _EventParser, capture, publisher_token, subscribe, subscriber_token
from tests.hubbub.asgi import publish

HUB = "http://testserver/.well-known/mercure"

# What the test authorizer grants: user pk -> selectors; and whom it was asked about.
GRANTS: dict[int, list[str]] = {}
ASKED: list[tuple[int, list[str]]] = []


def grant(user: User, selectors: list[str]) -> list[str]:
    ASKED.append((user.pk, selectors))
    return GRANTS.get(user.pk, [])


@pytest.fixture(autouse=True)
def authorizer(settings):
    settings.HUBBUB_AUTHORIZERS = ["tests.hubbub.test_testing.grant"]
    GRANTS.clear()
    ASKED.clear()
    yield
    GRANTS.clear()
    ASKED.clear()


@pytest.fixture(autouse=True)
def no_observer_left_behind():
    before = list(publishing.observers)
    yield
    assert publishing.observers == before


# The event-stream parser


def parse(*chunks: bytes) -> list[Event]:
    parser = _EventParser()
    events = []
    for index, chunk in enumerate(chunks):
        events += parser.feed(chunk, final=index == len(chunks) - 1)
    return events


def test_parser_reads_every_field_and_skips_comments():
    stream = (
        b"retry: 3000\n\n:\n\nid: 1\nevent: book\nretry: 1500\ndata: line 1\ndata: line 2\n\n: hi\nid: 2\ndata:x\n\n"
    )
    assert parse(stream) == [Event("1", "book", "line 1\nline 2", 1500), Event("2", "message", "x", None)]


def test_parser_line_breaks_and_chunk_boundaries():
    # CRLF, CR and LF line ends; a CRLF, and a UTF-8 character, split across chunks.
    assert parse(b"data: a\r\ndata: b\r", b"\nid: 7\rdata: \xc3", b"\xa9\n\n") == [
        Event("7", "message", "a\nb\n\u00e9")
    ]


def test_parser_follows_the_html_standard_where_it_is_subtle():
    # The id persists (EventSource's lastEventId); an id with NUL is ignored; a block
    # without data dispatches nothing and resets the type; "data" alone is an empty line;
    # an unknown field or a retry that is not digits is ignored; one BOM at the start is
    # dropped; an event the stream does not finish is dropped.
    stream = (
        b"\xef\xbb\xbfid: a\nevent: x\n\ndata: 1\n\nid: b\x00c\nfoo: bar\nretry: 1s\ndata\ndata\n\n"
        b"event: y\ndata:  two spaces\n\ndata: unfinished\n"
    )
    assert parse(stream) == [Event("a", "message", "1"), Event("a", "message", "\n"), Event("a", "y", " two spaces")]


# subscribe()


@pytest.mark.django_db(transaction=True)
async def test_an_update_published_from_async_code_reaches_the_subscriber():
    async with subscribe("https://example.com/books/{id}") as subscriber:
        assert subscriber.status == 200
        assert subscriber.headers["content-type"] == "text/event-stream"
        assert subscriber.headers["last-event-id"] == "earliest"
        update_id = await hubbub.apublish("https://example.com/books/1", "line 1\nline 2", type="book", retry=1500)
        assert await subscriber.next(timeout=5) == Event(update_id, "book", "line 1\nline 2", 1500)
        assert subscriber.retry == 1500  # the hub announced 3000 first
        await hubbub.apublish("https://example.com/authors/1", "not for this page")
        assert await subscriber.silent(0.3)


@pytest.mark.django_db(transaction=True)
async def test_an_update_published_from_sync_code_reaches_the_subscriber_at_the_commit():
    def publish_in_a_transaction(data: str, *, fail: bool) -> str:
        with transaction.atomic():
            update_id = hubbub.publish("/t", data)
            if fail:
                raise RuntimeError("rolled back")
        return update_id

    async with subscribe("/t") as subscriber:
        update_id = await sync_to_async(publish_in_a_transaction)("committed", fail=False)
        assert await subscriber.next() == Event(update_id, "message", "committed")
        with pytest.raises(RuntimeError):
            await sync_to_async(publish_in_a_transaction)("rolled back", fail=True)
        assert await subscriber.silent(0.3)


@pytest.mark.django_db(transaction=True)
async def test_a_private_update_reaches_a_user_an_authorizer_grants_and_nobody_else():
    alice = await sync_to_async(User.objects.create_user)("alice")
    bob = await sync_to_async(User.objects.create_user)("bob")
    GRANTS[alice.pk] = ["/users/{id}/inbox"]
    async with AsyncExitStack() as pages:
        alices = await pages.enter_async_context(subscribe("/users/1/inbox", user=alice))
        bobs = await pages.enter_async_context(subscribe("/users/1/inbox", user=bob))
        anonymous = await pages.enter_async_context(subscribe("/users/1/inbox"))
        also_anonymous = await pages.enter_async_context(subscribe("/users/1/inbox", user=AnonymousUser()))
        assert sorted(ASKED) == sorted([(alice.pk, ["/users/1/inbox"]), (bob.pk, ["/users/1/inbox"])])
        await hubbub.apublish("/users/1/inbox", "private", private=True)
        await hubbub.apublish("/users/1/inbox", "public")
        assert [event.data for event in await alices.take(2)] == ["private", "public"]
        for page in (bobs, anonymous, also_anonymous):
            assert (await page.next()).data == "public"
            assert await page.silent(0.1)


@pytest.mark.django_db(transaction=True)
async def test_the_session_goes_with_the_other_cookies(settings):
    settings.HUBBUB_ANONYMOUS_SUBSCRIBERS = False
    alice = await sync_to_async(User.objects.create_user)("alice")
    GRANTS[alice.pk] = ["/a"]
    cookie = {"cookie": f"mercureAuthorization={subscriber_token('/b')}"}
    async with subscribe("/a", "/b", user=alice, headers=cookie) as subscriber:
        assert subscriber.status == 200
        await hubbub.apublish("/a", "granted to alice", private=True)
        await hubbub.apublish("/b", "granted by the token", private=True)
        assert [event.data for event in await subscriber.take(2)] == ["granted to alice", "granted by the token"]


@pytest.mark.django_db(transaction=True)
async def test_a_user_who_cannot_sign_in_subscribes_anonymously():
    alice = await sync_to_async(User.objects.create_user)("alice", is_active=False)
    GRANTS[alice.pk] = ["/a"]
    async with subscribe("/a", user=alice) as subscriber:
        await hubbub.apublish("/a", "private", private=True)
        assert await subscriber.silent(0.2)
    assert ASKED == []


@pytest.mark.django_db(transaction=True)
async def test_resuming_after_last_event_id_then_live():
    for n in range(4):
        await hubbub.apublish("/r", str(n), id=f"r{n}")
    await hubbub.apublish("/elsewhere", "x", id="e0")
    async with subscribe("/r", last_event_id="r1") as resumed, subscribe("/r", last_event_id="earliest") as everything:
        assert resumed.headers["last-event-id"] == "r1"  # the id just before the first one sent
        assert [event.id for event in await resumed.take(2)] == ["r2", "r3"]
        assert [event.data for event in await everything.take(4)] == ["0", "1", "2", "3"]
        await hubbub.apublish("/r", "live", id="r4")
        assert (await resumed.next()).id == "r4" and (await everything.next()).id == "r4"
        assert await resumed.silent(0.1)


@pytest.mark.django_db(transaction=True)
async def test_a_timeout_leaves_the_subscription_open_and_silent_keeps_what_arrived():
    async with subscribe("/t") as subscriber:
        with pytest.raises(TimeoutError):
            await subscriber.next(timeout=0.1)
        await hubbub.apublish("/t", "later")
        assert not await subscriber.silent(1)
        assert (await subscriber.next()).data == "later"


@pytest.mark.django_db(transaction=True)
async def test_leaving_the_block_disconnects_and_leaves_nothing_running():
    hub = fanout.current()
    tasks_before = len(asyncio.all_tasks())
    async with AsyncExitStack() as pages:
        for n in range(20):
            await pages.enter_async_context(subscribe(f"/t/{n % 4}", "/all/{id}"))
        assert len(hub.subscriptions) == 20
    assert hub.subscriptions == set() and hub.by_topic == {} and hub.by_template == {} and hub.everything == set()
    with pytest.raises(ZeroDivisionError):
        async with subscribe("/t") as subscriber:
            assert len(hub.subscriptions) == 1 and subscriber.status == 200
            raise ZeroDivisionError
    assert hub.subscriptions == set()
    assert len(asyncio.all_tasks()) <= tasks_before + 1  # the fan-out's link (closed at the next heartbeat)


@pytest.mark.django_db(transaction=True)
async def test_a_stream_the_hub_ends_raises_eof(settings):
    settings.HUBBUB_ANONYMOUS_SUBSCRIBERS = False
    async with subscribe("/t") as refused:
        assert refused.status == 401 and refused.ended
        assert "subscribing requires a token" in refused.reason
        assert refused.headers["www-authenticate"].startswith("Bearer resource_metadata=")
        with pytest.raises(EOFError):
            await refused.next()
    async with subscribe("/t", token=subscriber_token("/t", expires_in=2)) as expiring:
        assert expiring.status == 200
        with pytest.raises(EOFError):
            await expiring.next(timeout=5)
        assert expiring.ended
    assert fanout.current().subscriptions == set()


# Tokens


@pytest.mark.django_db(transaction=True)
async def test_tokens_publish_over_http_and_subscribe_to_private_updates():
    allowed = subscribe("/private/{id}", token=subscriber_token("/private/1"))
    other = subscribe("/private/{id}", token=subscriber_token("/private/2"))
    async with allowed, other:
        status, update_id = await publish(token=publisher_token(), topic="/private/1", data="secret", private="on")
        assert status == 200
        assert (await allowed.next()).id == update_id.decode()
        assert await other.silent(0.2)
    books = publisher_token("/books/{id}")
    assert (await publish(token=books, topic="/books/1"))[0] == 200
    assert (await publish(token=books, topic="/authors/1"))[0] == 403


def test_tokens_are_signed_with_the_configured_keys(settings):
    publisher = tokens.decode(publisher_token(), "publish", hub_url=HUB)
    assert publisher.publish is not None and publisher.publish.match("/anything") and publisher.subscribe is None
    assert publisher.draft == 7
    subscriber = tokens.decode(subscriber_token("/a", expires_in=60), "subscribe", hub_url=HUB)
    assert subscriber.subscribe is not None
    assert subscriber.subscribe.match("/a") and not subscriber.subscribe.match("/b")
    assert subscriber.expires is not None and subscriber.publish is None
    nothing = tokens.decode(subscriber_token(), "subscribe", hub_url=HUB)
    assert nothing.subscribe is not None and not nothing.subscribe.match("/a")
    with pytest.raises(tokens.InvalidToken):
        tokens.decode(publisher_token(), "subscribe", hub_url=HUB)


def test_mercure_1_0_tokens(settings):
    settings.HUBBUB_TOKEN_AUDIENCE = HUB
    url_pattern = {"match": "https://example.com/books/:id", "match_type": "urlpattern"}
    publisher = tokens.decode(publisher_token("/shelf", url_pattern, draft=8), "publish", hub_url=HUB)
    assert publisher.draft == 8 and publisher.subscribe is None
    assert publisher.publish.match("/shelf") and publisher.publish.match("https://example.com/books/1")
    assert not publisher.publish.match("/shelf/1")
    assert tokens.decode(publisher_token(draft=8), "publish", hub_url=HUB).publish.wildcard
    subscriber = tokens.decode(subscriber_token("/a", expires_in=60, draft=8), "subscribe", hub_url=HUB)
    assert subscriber.draft == 8 and subscriber.subscribe.match("/a") and not subscriber.subscribe.match("/b")
    assert subscriber.expires == pytest.approx(time.time() + 60, abs=2)
    nothing = tokens.decode(subscriber_token(draft=8), "subscribe", hub_url=HUB)
    assert (nothing.draft, nothing.subscribe, nothing.publish) == (8, None, None)
    assert nothing.expires == pytest.approx(time.time() + 3600, abs=2)  # a Mercure 1.0 token always expires


def test_the_token_kind_follows_the_draft_07_setting(settings):
    settings.HUBBUB_MERCURE_DRAFT07 = False
    with pytest.raises(ValueError, match="HUBBUB_TOKEN_AUDIENCE"):
        publisher_token()
    settings.HUBBUB_TOKEN_AUDIENCE = HUB
    assert tokens.decode(publisher_token(), "publish", hub_url=HUB).draft == 8
    assert tokens.decode(subscriber_token("/a"), "subscribe", hub_url=HUB).draft == 8
    with pytest.raises(ValueError, match="draft=8"):
        publisher_token({"match": "/books/:id", "match_type": "urlpattern"}, draft=7)


@pytest.mark.django_db(transaction=True)
async def test_mercure_1_0_tokens_publish_over_http_and_subscribe_to_private_updates(settings):
    settings.HUBBUB_TOKEN_AUDIENCE = "http://testserver/.well-known/mercure"
    allowed = subscribe("/private/{id}", token=subscriber_token("/private/1", draft=8))
    other = subscribe("/private/{id}", token=subscriber_token("/private/2", draft=8))
    async with allowed, other:
        assert allowed.status == other.status == 200
        status, update_id = await publish(
            token=publisher_token(draft=8), topic="/private/1", data="secret", private="on"
        )
        assert status == 200
        assert (await allowed.next()).id == update_id.decode()
        assert await other.silent(0.2)
    books = publisher_token({"match": "https://example.com/books/:id", "match_type": "urlpattern"}, draft=8)
    assert (await publish(token=books, topic="https://example.com/books/1"))[0] == 200
    assert (await publish(token=books, topic="https://example.com/authors/1"))[0] == 403


@pytest.mark.django_db(transaction=True)
async def test_subscribe_with_mercure_1_0_matchers(settings):
    async with (
        subscribe("/books/1", draft=8) as exact,
        subscribe(url_patterns=["http://testserver/books/:id"]) as pattern,
        subscribe("/books/{id}", draft=8) as literal,
    ):
        assert exact.status == pattern.status == literal.status == 200
        await hubbub.apublish("http://testserver/books/2", "two")
        await hubbub.apublish("/books/1", "one")
        assert (await pattern.next()).data == "two"
        assert (await exact.next()).data == "one"
        assert await literal.silent(0.2)  # an exact matcher is no URI template
    with pytest.raises(ValueError, match="draft=8"):
        subscribe(url_patterns=["/books/:id"], draft=7)
    settings.HUBBUB_MERCURE_DRAFT07 = False
    async with subscribe("/books/1") as default:  # sent as match=, which the hub then requires
        assert default.status == 200
        await hubbub.apublish("/books/1", "one again")
        assert (await default.next()).data == "one again"


# capture()


@pytest.mark.django_db(transaction=True)
def test_capture_records_sync_publishes_at_the_commit_and_nothing_rolled_back():
    with capture() as published:
        first = hubbub.publish("/a", "now", type="x", retry=10)
        assert [(u.id, u.topics, u.data, u.private, u.type, u.retry) for u in published] == [
            (first, ("/a",), "now", False, "x", 10)
        ]
        with transaction.atomic():
            second = hubbub.publish(["/a", "/b"], "at the commit", private=True)
            assert len(published) == 1
        assert published[1].id == second and published[1].topics == ("/a", "/b") and published[1].private
        with pytest.raises(RuntimeError), transaction.atomic():
            hubbub.publish("/a", "never")
            raise RuntimeError
    assert [update.id for update in published] == [first, second]


@pytest.mark.django_db(transaction=True)
def test_captures_nest_and_stop_recording_on_exit_even_on_error():
    with capture() as outer:
        hubbub.publish("/t", "1")
        with capture() as inner:
            hubbub.publish("/t", "2")
        hubbub.publish("/t", "3")
    hubbub.publish("/t", "after")
    assert [u.data for u in outer] == ["1", "2", "3"] and [u.data for u in inner] == ["2"]
    with pytest.raises(ZeroDivisionError), capture():
        raise ZeroDivisionError
    assert publishing.observers == []


@pytest.mark.django_db(transaction=True)
def test_a_failed_publish_is_not_recorded(monkeypatch):
    def unreachable(updates, send=None):
        raise DatabaseError("the database went away")

    monkeypatch.setattr(history, "store", unreachable)
    with capture() as published, pytest.raises(DatabaseError):
        hubbub.publish("/t", "lost")
    assert published == []


@pytest.mark.django_db
def test_capture_under_a_test_case_transaction_with_on_commit_callbacks(django_capture_on_commit_callbacks):
    with capture() as published:
        with django_capture_on_commit_callbacks(execute=True):
            hubbub.publish("/t", "in the test's transaction")
            assert published == []
        assert [update.data for update in published] == ["in the test's transaction"]


@pytest.mark.django_db(transaction=True)
async def test_capture_records_async_http_and_thread_publishes_as_delivered(monkeypatch):
    with capture() as published:
        async with subscribe("/t") as subscriber:
            by_apublish = await hubbub.apublish("/t", "async")
            status, by_http = await publish(topic="/t", data="over http")
            assert status == 200
            by_thread = await sync_to_async(hubbub.publish)("/t", "from a sync view")
            assert [event.id for event in await subscriber.take(3)] == [by_apublish, by_http.decode(), by_thread]
        with pytest.raises(hubbub.HubbubError) as refused:  # not published
            await hubbub.apublish("/t", "other content", id=by_apublish)
        assert isinstance(refused.value, hubbub.UpdateConflict)
        layer = publishing.layers.channel_layer()

        async def broken(group, message):
            raise ConnectionError("the layer went away")

        monkeypatch.setattr(publishing, "_RESEND_DELAYS", (), raising=False)
        monkeypatch.setattr(layer, "group_send", broken)
        await hubbub.apublish("/t", "stored while the layer is down")  # acknowledged: it reaches pages from the history
    assert [update.data for update in published] == [
        "async",
        "over http",
        "from a sync view",
        "stored while the layer is down",
    ]


# The module's own example


@pytest.mark.django_db(transaction=True)
async def test_the_example_in_the_module_docstring_runs():
    import hubbub.testing

    [example] = re.findall(r"::\n\n((?:    .*\n|\n)+)", hubbub.testing.__doc__)
    namespace: dict = {}
    exec(textwrap.dedent(example), namespace)
    [test] = [value for name, value in namespace.items() if name.startswith("test_")]
    await test(await sync_to_async(User.objects.create_user)("alice"))
