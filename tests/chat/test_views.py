from __future__ import annotations

import io
import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

import hubbub
from hubbub.contrib.chat import direct, editing, names, posting, rooms
from hubbub.contrib.chat.models import Attachment, Message, Reaction, ReadMarker, Room
from hubbub.models import StoredUpdate
from tests.hubbub.asgi import subscribe
from tests.published import published

from .conftest import client_for, make_guest
from .test_authorization import session_cookie

pytestmark = pytest.mark.django_db
User = get_user_model()


# Lobby, sign-in, sign-out


def test_lobby_asks_for_a_name(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b'name="name"' in response.content and b"Shakespearean" in response.content


def test_lobby_creates_a_passwordless_guest_signs_in_and_lands_in_the_default_room(client):
    response = client.post("/", {"name": "Ada"})
    assert response.status_code == 302 and response["Location"] == "/rooms/general/"
    user = User.objects.get(username="Ada")
    assert not user.has_usable_password()
    assert client.session["_auth_user_id"] == str(user.pk)
    page = client.get("/rooms/general/")
    assert page.status_code == 200 and b"Welcome, Ada!" in page.content


def test_a_taken_name_is_made_unique_case_insensitively_and_the_guest_is_told(client):
    make_guest("Ada")
    response = client.post("/", {"name": "ada"}, follow=True)
    assert User.objects.filter(username="ada2").exists()
    assert "“ada” was taken, so you are ada2." in response.content.decode()
    other = Client()
    other.post("/", {"name": "Ada"})
    assert User.objects.filter(username="Ada3").exists()


def test_an_empty_name_gets_a_random_shakespearean_one(client):
    client.post("/", {"name": "   "})
    user = User.objects.get()
    assert user.username in names.SHAKESPEAREAN


def test_random_names_are_made_unique_too(monkeypatch):
    monkeypatch.setattr(names, "random_name", lambda: "Puck")
    for _ in range(3):
        Client().post("/", {"name": ""})
    assert sorted(User.objects.values_list("username", flat=True)) == ["Puck", "Puck2", "Puck3"]


def test_inner_spaces_become_underscores(client):
    client.post("/", {"name": "  Mary   Jane "})
    assert User.objects.get().username == "Mary_Jane"


@pytest.mark.parametrize(
    ("name", "error"),
    [("<b>bold</b>", "Use letters, digits"), ("x" * 31, "30 characters or fewer"), ("a@b", "Use letters, digits")],
)
def test_a_bad_name_is_refused_in_words_and_creates_nobody(client, name, error):
    response = client.post("/", {"name": name})
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not User.objects.exists()


def test_the_lobby_returns_to_a_safe_next_page_only(client):
    assert client.post("/", {"name": "a", "next": "/rooms/"})["Location"] == "/rooms/"
    assert Client().post("/", {"name": "b", "next": "//evil.example/"})["Location"] == "/rooms/general/"


def test_the_lobby_of_a_signed_in_user_offers_the_rooms_and_sign_out(alice, general):
    response = client_for(alice).get("/")
    content = response.content.decode()
    assert "Welcome back, alice" in content and "/rooms/general/" in content and "Sign out" in content


def test_accounts_with_a_password_sign_in(client, general):
    User.objects.create_user("oberon", password="fairy-king-123")
    response = client.post("/signin/", {"username": "oberon", "password": "fairy-king-123"})
    assert response.status_code == 302 and response["Location"] == "/rooms/general/"
    assert client.get("/rooms/general/").status_code == 200


def test_guests_cannot_sign_in_with_a_password(client, alice):
    response = client.post("/signin/", {"username": "alice", "password": ""})
    assert response.status_code == 200 and "_auth_user_id" not in client.session


def test_a_guest_with_a_password_signs_in_with_their_name_in_any_case(general):
    lobby = Client()
    lobby.post("/", {"name": "Ada"})
    lobby.post("/account/", {"new_password1": "winter-tale-42", "new_password2": "winter-tale-42"})
    lobby.post("/signout/")
    ada = User.objects.get(username="Ada")
    for typed in ("ada", "ADA", "Ada"):
        client = Client()
        response = client.post("/signin/", {"username": typed, "password": "winter-tale-42"})
        assert response.status_code == 302 and response["Location"] == "/rooms/general/"
        assert client.session["_auth_user_id"] == str(ada.pk)


def test_sign_in_prefers_the_account_named_exactly_when_two_differ_only_by_case(general):
    upper = User.objects.create_user("ADA", password="older-account-1")
    mixed = User.objects.create_user("Ada", password="newer-account-2")

    def signs_in_as(username, password):
        client = Client()
        response = client.post("/signin/", {"username": username, "password": password})
        return response.status_code == 302 and int(client.session["_auth_user_id"])

    assert signs_in_as("Ada", "newer-account-2") == mixed.pk
    assert signs_in_as("ADA", "older-account-1") == upper.pk
    assert signs_in_as("ada", "older-account-1") == upper.pk  # no exact match: the oldest
    assert signs_in_as("ada", "newer-account-2") is False  # found ADA, whose password it is not
    assert signs_in_as("Ada", "older-account-1") is False


def refusal(username, password):
    client = Client()
    response = client.post("/signin/", {"username": username, "password": password})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    return response.context["form"].non_field_errors()


def test_sign_in_ignoring_case_still_refuses_a_wrong_password_in_the_same_words(general):
    User.objects.create_user("Oberon", password="fairy-king-123")
    [reason] = refusal("oberon", "fairy-queen-123")
    assert reason.startswith("Please enter a correct username and password.")
    assert refusal("Oberon", "fairy-queen-123") == refusal("nobody", "fairy-king-123") == [reason]


def test_sign_in_ignoring_case_refuses_inactive_accounts(general):
    User.objects.create_user("Puck", password="fairy-king-123", is_active=False)
    assert refusal("puck", "fairy-king-123") == refusal("Puck", "fairy-king-123")


def test_sign_out_returns_to_the_lobby(alice):
    client = client_for(alice)
    response = client.post("/signout/", {"confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "_auth_user_id" not in client.session


# Rooms


def test_pages_need_a_signed_in_user(client, general):
    assert client.get("/rooms/general/")["Location"] == "/?next=/rooms/general/"
    assert client.get("/rooms/")["Location"] == "/?next=/rooms/"
    response = client.post("/rooms/general/messages/", {"text": "hi"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 401 and "Sign in" in response.json()["error"]


def test_create_a_room_with_a_unique_slug(alice, bob):
    client = client_for(alice)
    response = client.post("/rooms/", {"name": "Book  Club"})
    assert response.status_code == 302 and response["Location"] == "/rooms/book-club/"
    room = Room.objects.get(slug="book-club")
    assert room.name == "Book Club" and not room.is_private and list(room.members.all()) == [alice]
    client_for(bob).post("/rooms/", {"name": "book club!"})
    assert Room.objects.filter(slug="book-club-2", created_by=bob).exists()


def test_a_new_public_room_is_announced_to_signed_in_pages_and_a_private_one_to_its_creator_only(
    alice, django_capture_on_commit_callbacks
):
    client = client_for(alice)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/rooms/", {"name": "Book Club"})
        client.post("/rooms/", {"name": "Hush", "is_private": "on"})
    assert published("chat.room") == [
        (
            ["/chat/rooms"],
            {"slug": "book-club", "name": "Book Club", "url": "/rooms/book-club/", "private": False, "direct": False},
            True,
        ),
        (
            [f"/chat/users/{alice.pk}"],
            {"slug": "hush", "name": "Hush", "url": "/rooms/hush/", "private": True, "direct": False},
            True,
        ),
    ]


def test_a_room_name_needs_a_letter_or_digit(alice):
    response = client_for(alice).post("/rooms/", {"name": "!!!"})
    assert response.status_code == 400 and "at least one letter or digit" in response.content.decode()


def test_the_room_list_shows_public_rooms_and_private_rooms_of_members_only(alice, bob, general, secret):
    assert "Secret" in client_for(alice).get("/rooms/").content.decode()
    content = client_for(bob).get("/rooms/").content.decode()
    assert "General" in content and "Secret" not in content


def room_links_tag(user, kind: str = "rooms") -> str:
    classes = "room-links room-links--direct" if kind == "direct" else "room-links"
    return (
        f'<ul class="{classes}" data-room-links data-kind="{kind}" data-rooms-topic="/chat/rooms" '
        f'data-user-topic="/chat/users/{user.pk}" data-room-topic-prefix="/chat/rooms/" '
        f'data-me="{user.get_username()}">'
    )


@pytest.mark.parametrize("path", ["/", "/rooms/", "/rooms/general/"])
def test_every_room_list_names_the_topics_that_keep_it_live_and_loads_the_one_module(alice, general, path):
    content = client_for(alice).get(path).content.decode()
    assert content.count(room_links_tag(alice)) == 1
    assert content.count(room_links_tag(alice, "direct")) == 1
    assert content.count('<script type="module" src="/static/hubbub/chat/rooms.js"></script>') == 1


def test_the_lobby_of_a_visitor_lists_no_rooms_and_subscribes_to_nothing(client, general):
    content = client.get("/").content.decode()
    assert "data-room-links" not in content and "rooms.js" not in content and 'rel="mercure"' not in content


@pytest.mark.parametrize("path", ["/", "/rooms/"])
def test_room_lists_take_the_hub_position_so_rooms_announced_after_it_are_replayed(
    alice, general, path, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        hubbub.publish("/elsewhere", "x")
    newest = StoredUpdate.objects.get().uid
    response = client_for(alice).get(path)
    assert response.context["hub_last_event_id"] == newest
    assert (
        f'<link rel="mercure" href="/.well-known/mercure" data-last-event-id="{newest}">' in response.content.decode()
    )


def test_the_lobby_keeps_an_empty_room_list_hidden_for_rooms_to_come(alice, general):
    general.delete()
    content = client_for(alice).get("/").content.decode()
    assert "<div data-hidden-without-rooms hidden>" in content and room_links_tag(alice) in content


def test_an_unknown_room_is_404(alice):
    assert client_for(alice).get("/rooms/nowhere/").status_code == 404


# The chat page and history


def post_messages(room, author, count):
    return Message.objects.bulk_create(
        Message(room=room, author=author, text=f"message {n}") for n in range(1, count + 1)
    )


@pytest.fixture
def sixty(general, alice):
    post_messages(general, alice, 60)
    return list(general.messages.order_by("id"))


def test_the_chat_page_renders_the_last_page_of_messages_in_order(alice, sixty, settings):
    settings.CHAT_PAGE_SIZE = 50
    response = client_for(alice).get("/rooms/general/")
    shown = [m.text for m in response.context["chat_messages"]]
    assert shown == [f"message {n}" for n in range(11, 61)]
    content = response.content.decode()
    assert content.index("message 59") < content.index("message 60")
    assert "message 10<" not in content and "Load older messages" in content
    assert 'role="log"' in content


def test_the_chat_page_takes_the_hub_position_before_the_history(alice, general, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        hubbub.publish("/elsewhere", "x")
    newest = StoredUpdate.objects.get().uid
    response = client_for(alice).get("/rooms/general/")
    assert response.context["hub_last_event_id"] == newest
    assert (
        f'<link rel="mercure" href="/.well-known/mercure" data-last-event-id="{newest}">' in response.content.decode()
    )


def test_an_empty_hub_resumes_from_the_earliest_update(alice, general):
    response = client_for(alice).get("/rooms/general/")
    assert '<link rel="mercure" href="/.well-known/mercure" data-last-event-id="earliest">' in response.content.decode()


def test_older_pages_come_by_cursor_without_offset(alice, sixty, settings):
    settings.CHAT_PAGE_SIZE = 25
    client = client_for(alice)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(f"/rooms/general/messages/?before={sixty[35].pk}").json()
    assert [m["text"] for m in page["messages"]] == [f"message {n}" for n in range(11, 36)]
    assert page["has_more"] is True
    assert not any("OFFSET" in query["sql"].upper() for query in queries.captured_queries)
    last = client.get(f"/rooms/general/messages/?before={sixty[10].pk}").json()
    assert [m["text"] for m in last["messages"]] == [f"message {n}" for n in range(1, 11)]
    assert last["has_more"] is False
    assert set(last["messages"][0]) == {
        "id",
        "room",
        "author",
        "text",
        "html",
        "created",
        "edited",
        "reactions",
        "attachment",
    }
    assert last["messages"][0]["attachment"] is None


@pytest.mark.parametrize("before", ["abc", "-1", "1.5", "١٢"])
def test_a_malformed_cursor_is_400_in_words(alice, general, before):
    response = client_for(alice).get(f"/rooms/general/messages/?before={before}")
    assert response.status_code == 400 and "message id" in response.json()["error"]


# Private rooms


def test_a_private_room_is_closed_to_non_members(bob, secret):
    client = client_for(bob)
    page = client.get("/rooms/secret/")
    assert page.status_code == 403 and "only its members can read it" in page.content.decode()
    history = client.get("/rooms/secret/messages/", HTTP_ACCEPT="application/json")
    assert history.status_code == 403 and "private room" in history.json()["error"]
    post = client.post("/rooms/secret/messages/", {"text": "let me in"}, HTTP_ACCEPT="application/json")
    assert post.status_code == 403 and "Only members" in post.json()["error"]
    assert not Message.objects.exists() and not StoredUpdate.objects.exists()


def test_members_add_members_by_name(alice, bob, secret):
    response = client_for(alice).post("/rooms/secret/members/", {"username": "@BOB"}, follow=True)
    assert "bob is now a member of “Secret”." in response.content.decode()
    assert client_for(bob).get("/rooms/secret/").status_code == 200


def test_an_added_member_alone_is_told_of_the_room_after_the_commit(
    alice, bob, secret, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        client_for(alice).post("/rooms/secret/members/", {"username": "bob"})
    assert published("chat.room") == []  # nothing before the membership is committed
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()
    assert published("chat.room") == [
        (
            [f"/chat/users/{bob.pk}"],
            {"slug": "secret", "name": "Secret", "url": "/rooms/secret/", "private": True, "direct": False},
            True,
        )
    ]


def test_adding_a_member_again_says_so_and_announces_nothing(alice, bob, secret, django_capture_on_commit_callbacks):
    secret.members.add(bob)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).post("/rooms/secret/members/", {"username": "bob"}, follow=True)
    assert "bob is already a member of “Secret”." in response.content.decode()
    assert published() == []


def test_adding_an_unknown_member_says_so(alice, secret, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).post("/rooms/secret/members/", {"username": "nobody"}, follow=True)
    assert "Nobody is called “nobody”." in response.content.decode()
    assert list(secret.members.all()) == [alice]
    assert published() == []


def test_the_chat_page_subscribes_to_the_users_own_topic(alice, general):
    content = client_for(alice).get("/rooms/general/").content.decode()
    assert f'data-user-topic="/chat/users/{alice.pk}"' in content


@pytest.mark.django_db(transaction=True)
async def test_adding_a_member_reaches_that_members_pages_and_nobody_elses():
    alice, bob, carol = [await sync_to_async(make_guest)(name) for name in ("alice", "bob", "carol")]
    room = await sync_to_async(rooms.create)("Secret", alice, private=True)
    bobs_topic = f"/chat/users/{bob.pk}"
    bob_page = await subscribe(bobs_topic, "/chat/rooms", headers={"cookie": await sync_to_async(session_cookie)(bob)})
    # Carol asks for Bob's topic, every user's and her own: the hub grants her only her own.
    carol_page = await subscribe(
        bobs_topic, "/chat/users/{id}", "/chat/rooms", headers={"cookie": await sync_to_async(session_cookie)(carol)}
    )
    anonymous = await subscribe(bobs_topic, "*")
    try:
        client = await sync_to_async(client_for)(alice)
        response = await sync_to_async(client.post)(f"/rooms/{room.slug}/members/", {"username": "bob"})
        assert response.status_code == 302
        [event] = await bob_page.read_events(1)
        assert event["event"] == "chat.room"
        assert json.loads(event["data"]) == {
            "slug": "secret",
            "name": "Secret",
            "url": "/rooms/secret/",
            "private": True,
            "direct": False,
        }
        assert await carol_page.nothing_more() and await anonymous.nothing_more()
        assert await room.members.filter(pk=bob.pk).aexists()
    finally:
        for stream in (bob_page, carol_page, anonymous):
            await stream.close()


def test_a_private_room_page_lists_its_members_case_insensitively(alice, secret):
    secret.members.add(make_guest("Zed"), make_guest("bob"))
    response = client_for(alice).get("/rooms/secret/")
    assert response.context["members"] == ["alice", "bob", "Zed"]
    content = response.content.decode()
    assert (
        '<span id="member-total">3 members</span>' in content
        and '<span class="count" id="member-count">3</span>' in content
    )
    listed = content[content.index('id="member-list"') :]
    assert listed.index('data-name="alice"') < listed.index('data-name="bob"') < listed.index('data-name="Zed"')


@pytest.mark.django_db(transaction=True)
async def test_a_member_added_with_the_form_reaches_the_rooms_pages_as_the_whole_list_and_no_outsider():
    alice, bob, carol = [await sync_to_async(make_guest)(name) for name in ("alice", "bob", "carol")]
    room = await sync_to_async(rooms.create)("Secret", alice, private=True)
    topic = f"/chat/rooms/{room.slug}"
    member_page = await subscribe(topic, headers={"cookie": await sync_to_async(session_cookie)(alice)})
    outsider = await subscribe(
        topic, "/chat/rooms/{slug}", headers={"cookie": await sync_to_async(session_cookie)(carol)}
    )
    anonymous = await subscribe(topic, "*")
    try:
        client = await sync_to_async(client_for)(alice)
        response = await sync_to_async(client.post)(f"/rooms/{room.slug}/members/", {"username": "bob"})
        assert response.status_code == 302
        [event] = await member_page.read_events(1)
        assert event["event"] == "chat.members"
        data = json.loads(event["data"])
        assert data["room"] == "secret" and data["members"] == ["alice", "bob"] and isinstance(data["at"], int)
        assert await outsider.nothing_more() and await anonymous.nothing_more()
    finally:
        for stream in (member_page, outsider, anonymous):
            await stream.close()


def test_non_members_cannot_add_members_and_public_rooms_have_none(alice, bob, general, secret):
    assert client_for(bob).post("/rooms/secret/members/", {"username": "bob"}).status_code == 403
    assert client_for(alice).post("/rooms/general/members/", {"username": "bob"}).status_code == 400


# The account page


def test_the_account_page_is_linked_from_the_chat_pages_and_needs_a_signed_in_user(client, alice, general):
    assert 'href="/account/"' in client_for(alice).get("/rooms/general/").content.decode()
    assert client.get("/account/")["Location"] == "/?next=/account/"
    assert client.post("/account/", {}).status_code == 401


def test_a_guest_sets_a_password_stays_signed_in_and_signs_in_with_it_later(alice, general):
    client = client_for(alice)
    page = client.get("/account/")
    assert page.status_code == 200 and isinstance(page.context["form"], SetPasswordForm)
    assert 'name="old_password"' not in page.content.decode() and "Keep your name" in page.content.decode()

    response = client.post(
        "/account/", {"new_password1": "winter-tale-42", "new_password2": "winter-tale-42"}, follow=True
    )
    assert response.redirect_chain == [("/account/", 302)]
    assert "Your password is set: after signing out, sign in as alice with it." in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password("winter-tale-42")
    assert client.get("/rooms/general/").status_code == 200  # this session is still valid
    assert isinstance(client.get("/account/").context["form"], PasswordChangeForm)

    client.post("/signout/")
    again = Client()
    signed_in = again.post("/signin/", {"username": "alice", "password": "winter-tale-42"})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/rooms/general/"
    assert again.session["_auth_user_id"] == str(alice.pk)


@pytest.mark.parametrize(
    ("first", "second", "error"),
    [("winter-tale-42", "winter-tale-43", "didn’t match"), ("short", "short", "too short"), ("", "", "required")],
)
def test_a_refused_password_says_why_and_leaves_the_guest_without_one(alice, first, second, error):
    response = client_for(alice).post("/account/", {"new_password1": first, "new_password2": second})
    assert response.status_code == 400 and error in response.content.decode()
    alice.refresh_from_db()
    assert not alice.has_usable_password()


def test_changing_a_password_needs_the_current_one(db):
    oberon = User.objects.create_user("oberon", password="fairy-king-123")
    client = client_for(oberon)
    fields = {"new_password1": "titania-777x", "new_password2": "titania-777x"}
    wrong = client.post("/account/", {"old_password": "guess", **fields})
    assert wrong.status_code == 400 and "old password was entered incorrectly" in wrong.content.decode()
    response = client.post("/account/", {"old_password": "fairy-king-123", **fields}, follow=True)
    assert "Your password is changed." in response.content.decode()
    oberon.refresh_from_db()
    assert oberon.check_password("titania-777x")
    assert client.get("/account/").status_code == 200


def test_setting_a_password_needs_the_csrf_token(alice):
    client = client_for(alice, enforce_csrf_checks=True)
    fields = {"new_password1": "winter-tale-42", "new_password2": "winter-tale-42"}
    assert client.post("/account/", fields).status_code == 403
    client.get("/account/")
    response = client.post("/account/", {**fields, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("winter-tale-42")


def test_the_lobby_tells_a_guest_to_set_a_password(alice):
    assert "set one</a> to sign in as alice again" in client_for(alice).get("/").content.decode()
    alice.set_password("winter-tale-42")
    alice.save()
    assert "set one</a>" not in client_for(alice).get("/").content.decode()


# Posting


def post_json(client, text, room="general"):
    return client.post(f"/rooms/{room}/messages/", {"text": text}, HTTP_ACCEPT="application/json")


def test_posting_stores_and_publishes_the_message(alice, general, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(client_for(alice), "  Hello <b>world</b>\nsecond line ")
    assert response.status_code == 201
    message = Message.objects.get()
    assert (message.author, message.room, message.text) == (alice, general, "Hello <b>world</b>\nsecond line")
    data = response.json()["message"]
    assert data == {
        "id": message.pk,
        "room": "general",
        "author": "alice",
        "text": "Hello <b>world</b>\nsecond line",
        "html": "<p>Hello &lt;b&gt;world&lt;/b&gt;<br>\nsecond line</p>",
        "created": message.created.isoformat(),
        "edited": None,
        "attachment": None,
    }
    assert published("chat.message") == [
        (["/chat/rooms/general"], data, True)
    ]  # even public rooms are for signed-in people only


def test_line_breaks_are_stored_as_newlines(alice, general):
    post_json(client_for(alice), "one\r\ntwo\rthree")
    assert Message.objects.get().text == "one\ntwo\nthree"


def test_a_form_post_redirects_to_the_message(alice, general):
    response = client_for(alice).post("/rooms/general/messages/", {"text": "hi"})
    message = Message.objects.get()
    assert response.status_code == 303 and response["Location"] == f"/rooms/general/#message-{message.pk}"


def test_posting_accepts_a_json_body(alice, general):
    client = client_for(alice)
    response = client.post("/rooms/general/messages/", {"text": "from fetch"}, content_type="application/json")
    assert response.status_code == 201 and Message.objects.get().text == "from fetch"
    bad = client.post("/rooms/general/messages/", "{not json", content_type="application/json")
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]
    wrong = client.post("/rooms/general/messages/", {"text": 5}, content_type="application/json")
    assert wrong.status_code == 400 and "as text" in wrong.json()["error"]


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_an_empty_message_is_400_and_nothing_is_stored(alice, general, text, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(client_for(alice), text)
    assert response.status_code == 400 and "empty message was not sent" in response.json()["error"]
    assert not Message.objects.exists() and not StoredUpdate.objects.exists()


def test_a_too_long_message_is_413_and_the_limit_is_allowed(alice, general, settings):
    settings.CHAT_MAX_MESSAGE_LENGTH = 2000
    client = client_for(alice)
    response = post_json(client, "x" * 2001)
    assert response.status_code == 413
    assert (
        response.json()["error"]
        == "Your message is 2001 characters long; the limit is 2000. Shorten it and send again."
    )
    assert not Message.objects.exists()
    assert post_json(client, "é" * 2000).status_code == 201


def test_posting_too_fast_is_429_with_retry_after(alice, bob, general, settings):
    settings.CHAT_RATE_LIMIT = (2, 60)
    client = client_for(alice)
    assert [post_json(client, f"m{n}").status_code for n in range(2)] == [201, 201]
    response = post_json(client, "one too many")
    assert response.status_code == 429 and "too fast" in response.json()["error"]
    assert 1 <= int(response["Retry-After"]) <= 60
    assert Message.objects.count() == 2
    assert post_json(client_for(bob), "bob has his own limit").status_code == 201


def test_a_failed_form_post_keeps_the_text_and_says_why(alice, general, settings):
    settings.CHAT_MAX_MESSAGE_LENGTH = 10
    response = client_for(alice).post("/rooms/general/messages/", {"text": "<i>far too long</i>"})
    assert response.status_code == 413
    content = response.content.decode()
    assert "&lt;i&gt;far too long&lt;/i&gt;</textarea>" in content
    assert "the limit is 10" in content


def test_posting_needs_the_csrf_token(alice, general):
    client = client_for(alice, enforce_csrf_checks=True)
    response = post_json(client, "no token")
    assert response.status_code == 403 and not Message.objects.exists()
    client.get("/rooms/general/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/rooms/general/messages/", {"text": "with token"}, HTTP_ACCEPT="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 201 and Message.objects.get().text == "with token"


def test_posting_in_a_private_room_publishes_privately(alice, secret, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert post_json(client_for(alice), "psst", room="secret").status_code == 201
    [(topics, data, private)] = published("chat.message")
    assert topics == ["/chat/rooms/secret"] and data["text"] == "psst" and private is True


# Presence and typing


def test_presence_is_published_when_it_changes(alice, bob, general, django_capture_on_commit_callbacks):
    a, b = client_for(alice), client_for(bob)
    with django_capture_on_commit_callbacks(execute=True):
        assert a.post("/rooms/general/presence/", {"client": "tab-1", "state": "open"}).json() == {"users": ["alice"]}
        a.post("/rooms/general/presence/", {"client": "tab-1", "state": "open"})
        b.post("/rooms/general/presence/", {"client": "tab-9", "state": "open"})
        a.post("/rooms/general/presence/", {"client": "tab-1", "state": "closed"})
    assert [data["users"] for _, data, _ in published("chat.presence")] == [["alice"], ["alice", "bob"], ["bob"]]


@pytest.mark.parametrize(("client_id", "state"), [("", "open"), ("x" * 65, "open"), ("a b", "open"), ("tab", "away")])
def test_a_malformed_presence_request_is_400(alice, general, client_id, state):
    response = client_for(alice).post("/rooms/general/presence/", {"client": client_id, "state": state})
    assert response.status_code == 400 and "client" in response.content.decode()


def test_presence_in_a_private_room_needs_membership(bob, secret):
    assert client_for(bob).post("/rooms/secret/presence/", {"client": "t", "state": "open"}).status_code == 403


def test_typing_is_published_within_the_rate_limit(alice, general, settings, django_capture_on_commit_callbacks):
    settings.CHAT_TYPING_RATE_LIMIT = (1, 60)
    client = client_for(alice)
    with django_capture_on_commit_callbacks(execute=True):
        responses = [client.post("/rooms/general/typing/").status_code for _ in range(3)]
    assert responses == [204, 204, 204]
    [(topics, data, private)] = published("chat.typing")
    assert topics == ["/chat/rooms/general"] and data["user"] == "alice" and data["room"] == "general"
    assert isinstance(data["at"], int)


# Bad input is 400 in words, a dead dependency 503, limits 429 with Retry-After


@pytest.fixture
def cache_down(settings):
    """The cache (the rate limits' counts) on a Redis that nothing listens to."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }


def test_a_json_body_nested_too_deeply_is_400_in_words(alice, general):
    body = "[" * 50_000 + "]" * 50_000
    response = client_for(alice).post(
        "/rooms/general/messages/", body, content_type="application/json", HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400 and "nested too deeply" in response.json()["error"]
    assert not Message.objects.exists()


@pytest.mark.parametrize("before", ["9" * 5000, "9" * 19, "²"])
def test_a_cursor_no_message_id_can_be_is_400(alice, general, before):
    response = client_for(alice).get(f"/rooms/general/messages/?before={before}")
    assert response.status_code == 400 and "“before” must be a message id" in response.json()["error"]


@pytest.mark.parametrize("form", [True, False])
def test_a_message_with_a_nul_character_is_400_and_nothing_is_stored(alice, general, form):
    client = client_for(alice)
    if form:
        response = client.post("/rooms/general/messages/", {"text": "a\x00b"}, HTTP_ACCEPT="application/json")
    else:
        body = json.dumps({"text": "a\x00b"})
        response = client.post("/rooms/general/messages/", body, content_type="application/json")
    assert response.status_code == 400 and "NUL character" in response.json()["error"]
    assert not Message.objects.exists()


def test_posting_while_the_cache_is_down_is_503_in_words_and_stores_nothing(alice, general, cache_down):
    response = post_json(client_for(alice), "hello?")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error.startswith("Your message was not sent: the server cannot check its rate limits now")
    assert "\n" not in error and not Message.objects.exists()


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/", {"name": "Ada"}),
        ("/signin/", {"username": "oberon", "password": "fairy-king-123"}),
        ("/rooms/general/presence/", {"client": "tab-1", "state": "open"}),
        ("/rooms/general/typing/", {}),
    ],
)
def test_what_is_rate_limited_is_503_in_words_while_the_cache_is_down(alice, general, cache_down, path, data):
    client = client_for(alice) if path.startswith("/rooms/") else Client()
    response = client.post(path, data, HTTP_ACCEPT="application/json")
    assert response.status_code == 503
    assert response.json()["error"].startswith("That was not done: the server cannot check its rate limits now")
    assert User.objects.exclude(username="alice").count() == 0


def test_typing_while_the_hub_fails_is_503_in_words(alice, general, monkeypatch):
    def broken(*args, **kwargs):
        raise hubbub.HistoryUnavailable("the history database is unreachable")

    monkeypatch.setattr(hubbub, "publish", broken)
    response = client_for(alice).post("/rooms/general/typing/", HTTP_ACCEPT="application/json")
    assert response.status_code == 503
    assert response.json() == {"error": "That was not done: the history database is unreachable"}


def test_sign_in_attempts_are_limited_per_address_and_per_name(general, settings):
    settings.CHAT_SIGNIN_RATE_LIMIT = (2, 60)
    User.objects.create_user("oberon", password="fairy-king-123")
    User.objects.create_user("titania", password="fairy-queen-123")
    here = Client(REMOTE_ADDR="10.0.0.1")
    assert [here.post("/signin/", {"username": "oberon", "password": "wrong"}).status_code for _ in range(2)] == [
        200,
        200,
    ]
    # Over the limit even the right password is not checked.
    refused = here.post("/signin/", {"username": "Oberon", "password": "fairy-king-123"})
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60
    assert "Too many sign-in attempts: wait" in refused.content.decode()
    assert 'value="Oberon"' in refused.content.decode() and "_auth_user_id" not in here.session
    # The address is over its limit for any name; the name for any address.
    assert here.post("/signin/", {"username": "titania", "password": "fairy-queen-123"}).status_code == 429
    elsewhere = Client(REMOTE_ADDR="10.0.0.2")
    assert elsewhere.post("/signin/", {"username": "OBERON", "password": "fairy-king-123"}).status_code == 429
    assert elsewhere.post("/signin/", {"username": "titania", "password": "fairy-queen-123"}).status_code == 302


def test_guest_sign_ups_are_limited_per_address(general, settings):
    settings.CHAT_SIGNUP_RATE_LIMIT = (2, 60)
    statuses = [Client(REMOTE_ADDR="10.0.0.1").post("/", {"name": f"guest{n}"}).status_code for n in range(2)]
    assert statuses == [302, 302]
    refused = Client(REMOTE_ADDR="10.0.0.1").post("/", {"name": "one_too_many"})
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60
    content = refused.content.decode()
    assert "Too many new guests from your address just now: wait" in content and 'value="one_too_many"' in content
    assert not User.objects.filter(username="one_too_many").exists()
    assert Client(REMOTE_ADDR="10.0.0.2").post("/", {"name": "from_elsewhere"}).status_code == 302


def test_toggling_presence_is_limited_so_it_cannot_flood_the_room(
    alice, general, settings, django_capture_on_commit_callbacks
):
    settings.CHAT_PRESENCE_RATE_LIMIT = (4, 60)
    client = client_for(alice)
    with django_capture_on_commit_callbacks(execute=True):
        responses = [
            client.post(
                "/rooms/general/presence/",
                {"client": "tab-1", "state": ("open", "closed")[n % 2]},
                HTTP_ACCEPT="application/json",
            )
            for n in range(100)
        ]
    assert [r.status_code for r in responses] == [200] * 4 + [429] * 96
    assert 1 <= int(responses[-1]["Retry-After"]) <= 60
    assert responses[-1].json()["error"].startswith("Too many presence reports for this room: wait")
    assert len(published("chat.presence")) == 4


def test_a_name_that_mixes_scripts_is_refused_in_words(client):
    response = client.post("/", {"name": "\u0410da"})  # a Cyrillic А
    assert response.status_code == 400
    assert "mixes scripts (Cyrillic and Latin)" in response.content.decode()
    assert not User.objects.exists()


@pytest.mark.parametrize("name", ["\u0410\u0501\u0430", "0scar", "AdaI"])
def test_a_name_that_looks_like_someone_elses_is_refused_in_words(client, name):
    # All-Cyrillic "Аԁа" reads as "Ada"; "0scar" as "Oscar"; "AdaI" (a capital i) as "adal".
    for existing in ("Ada", "Oscar", "adal"):
        make_guest(existing)
    response = client.post("/", {"name": name})
    assert response.status_code == 400
    assert "looks too much like" in response.content.decode()
    assert User.objects.count() == 3


def test_a_room_name_with_a_word_that_mixes_scripts_is_refused(alice):
    client = client_for(alice)
    response = client.post("/rooms/", {"name": "G\u0435neral chat"})  # a Cyrillic е
    assert response.status_code == 400 and "mixes scripts (Cyrillic and Latin)" in response.content.decode()
    assert client.post("/rooms/", {"name": "Москва chat"}).status_code == 302


def test_a_room_made_while_the_hub_fails_is_made_and_its_announcement_logged(alice, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise hubbub.HistoryUnavailable("the history database is unreachable")

    monkeypatch.setattr(hubbub, "publish", broken)
    response = client_for(alice).post("/rooms/", {"name": "Quiet"})
    assert response.status_code == 302 and response["Location"] == "/rooms/quiet/"
    assert Room.objects.filter(slug="quiet").exists()
    assert "chat: room quiet was not announced live: the history database is unreachable" in caplog.messages


def test_a_missing_room_with_debug_off_is_the_sites_styled_404(alice, settings):
    settings.DEBUG = False
    client = client_for(alice, raise_request_exception=False)
    response = client.get("/rooms/no-such-room/")
    assert response.status_code == 404
    content = response.content.decode()
    assert "<title>Not found · Hubbub</title>" in content
    assert 'class="card card--error"' in content and "/rooms/no-such-room/" in content
    assert 'href="/rooms/">See the rooms you can open' in content
    assert "site.css" in content and "chat.css" in content  # the site's layout, as the 403 page
    anonymous = Client(raise_request_exception=False).get("/nowhere/")
    assert anonymous.status_code == 404 and 'href="/">Go to the lobby' in anonymous.content.decode()


def test_a_guest_without_a_password_is_asked_before_signing_out(alice):
    client = client_for(alice)
    response = client.post("/signout/")
    assert response.status_code == 200 and client.session["_auth_user_id"] == str(alice.pk)
    content = response.content.decode()
    assert "Sign out and give up the name alice?" in content and "nobody can sign in as" in content
    assert 'href="/account/">Set a password' in content
    assert 'name="confirm" value="yes"' in content
    response = client.post("/signout/", {"confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "_auth_user_id" not in client.session


def test_a_user_with_a_password_signs_out_at_once(db, general):
    user = User.objects.create_user("Oberon", password="fairy-king-123")
    client = client_for(user)
    response = client.post("/signout/")
    assert response.status_code == 302 and "_auth_user_id" not in client.session


# A room's owner (or staff) renames, archives and deletes it and removes members; members leave.


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("settings/", {"name": "Mine now", "topic": ""}),
        ("archive/", {"archived": "yes"}),
        ("delete/", {"confirm": "yes"}),
        ("members/remove/", {"username": "alice"}),
    ],
)
def test_only_the_owner_or_staff_change_a_room(alice, bob, secret, path, data):
    secret.members.add(bob)
    response = client_for(bob, HTTP_ACCEPT="application/json").post(f"/rooms/secret/{path}", data)
    assert response.status_code == 403 and response.json() == {
        "error": "Only the owner of “Secret” (or staff) can change it."
    }
    outsider = client_for(make_guest("carol"), HTTP_ACCEPT="application/json").post(f"/rooms/secret/{path}", data)
    assert outsider.status_code == 403 and "only its members can read it" in outsider.json()["error"]
    room = Room.objects.get(slug="secret")
    assert (room.name, room.archived, room.members.count()) == ("Secret", False, 2)
    assert published() == []


def test_the_owner_renames_a_room_and_sets_its_topic_the_slug_stays(
    alice, general, secret, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).post("/rooms/secret/settings/", {"name": "  Inner   Circle ", "topic": "Plans"})
    assert response.status_code == 302 and response["Location"] == "/rooms/secret/"
    room = Room.objects.get(slug="secret")
    assert (room.name, room.topic) == ("Inner Circle", "Plans")
    [(topics, data, _)] = published("chat.room.changed")
    assert topics == ["/chat/rooms/secret", f"/chat/users/{alice.pk}"] and data["name"] == "Inner Circle"
    page = client_for(alice).get("/rooms/secret/").content.decode()
    assert (
        '<span id="room-name">Inner Circle</span>' in page and '<p class="chat-topic" id="room-topic">Plans</p>' in page
    )


def test_staff_rename_any_room(general):
    staff = make_guest("root")
    staff.is_staff = True
    staff.save()
    assert client_for(staff).post("/rooms/general/settings/", {"name": "Agora", "topic": ""}).status_code == 302
    assert Room.objects.get(slug="general").name == "Agora"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"name": "!!!", "topic": ""}, "Room name: Give the room a name"),
        ({"name": "ok", "topic": "x" * 201}, "Topic: "),
    ],
)
def test_a_bad_name_or_topic_is_400_in_words(alice, secret, data, error):
    response = client_for(alice, HTTP_ACCEPT="application/json").post("/rooms/secret/settings/", data)
    assert response.status_code == 400 and response.json()["error"].startswith(error)
    assert Room.objects.get(slug="secret").name == "Secret" and published() == []


def test_an_archived_room_is_read_only_and_left_out_of_the_lists(alice, bob, django_capture_on_commit_callbacks):
    room = rooms.create("Old news", alice)
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(alice).post("/rooms/old-news/archive/", {"archived": "yes"}).status_code == 302
    assert Room.objects.get(pk=room.pk).archived
    assert [data["archived"] for _, data, _ in published("chat.room.changed")] == [True]
    post = client_for(bob, HTTP_ACCEPT="application/json").post("/rooms/old-news/messages/", {"text": "hello?"})
    assert post.status_code == 403 and "archived" in post.json()["error"] and not Message.objects.exists()
    page = client_for(bob).get("/rooms/old-news/")
    assert page.status_code == 200 and "Archived (read-only)" in page.content.decode()
    assert room not in page.context["rooms"]
    listing = client_for(bob).get("/rooms/")
    assert room not in listing.context["rooms"] and list(listing.context["archived_rooms"]) == [room]
    assert room not in client_for(bob).get("/").context["rooms"]
    assert client_for(alice).post("/rooms/old-news/archive/", {"archived": "maybe"}).status_code == 400
    assert client_for(alice).post("/rooms/old-news/archive/", {"archived": "no"}).status_code == 302
    assert not Room.objects.get(pk=room.pk).archived


def test_deleting_a_room_asks_first(alice, secret, django_capture_on_commit_callbacks):
    client = client_for(alice)
    ask = client.get("/rooms/secret/delete/")
    assert ask.status_code == 200 and "Delete “Secret”?" in ask.content.decode()
    unconfirmed = client.post("/rooms/secret/delete/", {}, HTTP_ACCEPT="application/json")
    assert unconfirmed.status_code == 400 and "confirm" in unconfirmed.json()["error"]
    assert Room.objects.filter(slug="secret").exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/rooms/secret/delete/", {"confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == "/rooms/"
    assert not Room.objects.filter(slug="secret").exists()
    assert [data for _, data, _ in published("chat.room.deleted")] == [{"slug": "secret", "url": "/rooms/secret/"}]
    assert client.get("/rooms/secret/").status_code == 404


def test_a_member_leaves_a_private_room_and_can_no_longer_read_it(
    alice, bob, secret, general, django_capture_on_commit_callbacks
):
    secret.members.add(bob)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(bob).post("/rooms/secret/leave/")
    assert response.status_code == 302 and response["Location"] == "/rooms/"
    assert list(secret.members.all()) == [alice]
    assert published("chat.room.removed") == [
        ([f"/chat/users/{bob.pk}"], {"slug": "secret", "url": "/rooms/secret/"}, True)
    ]
    assert client_for(bob).get("/rooms/secret/").status_code == 403
    assert client_for(bob).post("/rooms/secret/leave/").status_code == 403


def test_a_public_room_cannot_be_left(bob, general):
    response = client_for(bob, HTTP_ACCEPT="application/json").post("/rooms/general/leave/")
    assert response.status_code == 400 and "public room" in response.json()["error"]


def test_the_owner_removes_a_member_who_can_no_longer_read_the_room(
    alice, bob, secret, general, django_capture_on_commit_callbacks
):
    secret.members.add(bob)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).post("/rooms/secret/members/remove/", {"username": "@Bob"})
    assert response.status_code == 302 and list(secret.members.all()) == [alice]
    assert [topics for topics, _, _ in published("chat.room.removed")] == [[f"/chat/users/{bob.pk}"]]
    assert published("chat.members")[-1][1]["members"] == ["alice"]
    assert client_for(bob).get("/rooms/secret/").status_code == 403
    json_client = client_for(alice, HTTP_ACCEPT="application/json")
    again = json_client.post("/rooms/secret/members/remove/", {"username": "bob"})
    assert again.status_code == 400 and again.json()["error"] == "bob is not a member of “Secret”."
    assert json_client.post("/rooms/secret/members/remove/", {"username": "nobody"}).status_code == 400
    assert json_client.post("/rooms/general/members/remove/", {"username": "bob"}).status_code == 403  # not hers


def test_the_owners_controls_are_shown_to_the_owner_only(alice, bob, secret):
    secret.members.add(bob)
    mine = client_for(alice).get("/rooms/secret/").content.decode()
    theirs = client_for(bob).get("/rooms/secret/").content.decode()
    for text in ("Room settings", "/rooms/secret/archive/", "/rooms/secret/delete/", "Remove a member by name"):
        assert text in mine and text not in theirs
    assert "Leave this room" in mine and "Leave this room" in theirs


@pytest.mark.django_db(transaction=True)
async def test_a_member_removed_by_the_owner_has_their_streams_closed_and_reopened_without_the_room():
    alice, bob = [await sync_to_async(make_guest)(name) for name in ("alice", "bob")]
    room = await sync_to_async(rooms.create)("Secret", alice, private=True)
    await room.members.aadd(bob)
    topic = f"/chat/rooms/{room.slug}"
    cookie = {"cookie": await sync_to_async(session_cookie)(bob)}
    bobs_page = await subscribe(topic, f"/chat/users/{bob.pk}", headers=cookie)
    try:
        client = await sync_to_async(client_for)(alice)
        response = await sync_to_async(client.post)(f"/rooms/{room.slug}/members/remove/", {"username": "bob"})
        assert response.status_code == 302
        told = await bobs_page.read_events(5)
        assert [event["event"] for event in told] == ["chat.room.removed"] and bobs_page.ended
    finally:
        await bobs_page.close()
    reopened = await subscribe(topic, headers=cookie)
    try:
        await sync_to_async(posting.post)(room, alice, "bob is gone")
        assert await reopened.nothing_more()
    finally:
        await reopened.close()


# Formatting: one rendering for the page, the live event and the history; the @ autocomplete


def test_a_message_is_formatted_alike_on_the_page_live_and_in_the_history(
    alice, bob, general, django_capture_on_commit_callbacks
):
    text = "**bold** see https://example.org and @bob, not @nobody <script>alert(1)</script>"
    with django_capture_on_commit_callbacks(execute=True):
        data = post_json(client_for(alice), text).json()["message"]
    html = (
        '<p><strong>bold</strong> see <a href="https://example.org" target="_blank" rel="nofollow noopener noreferrer">'
        'https://example.org</a> and <span class="mention">@bob</span>, not @nobody '
        "&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    )
    assert data["text"] == text and data["html"] == html
    assert Message.objects.get().text == text  # the raw text is kept
    [(_, live, _)] = published("chat.message")
    assert live["html"] == html
    history = client_for(bob).get("/rooms/general/messages/").json()["messages"]
    assert [message["html"] for message in history] == [html]
    page = client_for(bob).get("/rooms/general/").content.decode()
    assert f'<div class="message-text">{html}</div>' in page
    assert "<script>alert(1)" not in page


def test_people_lists_room_members_by_the_start_of_their_name(alice, bob, general, secret):
    make_guest("Bobby")
    make_guest("carol")
    assert client_for(alice).get("/rooms/general/people/?q=BO").json() == {"people": ["bob", "Bobby"]}
    assert client_for(alice).get("/rooms/general/people/?q=").json()["people"] == ["alice", "bob", "Bobby", "carol"]
    assert client_for(alice).get("/rooms/secret/people/?q=").json() == {"people": ["alice"]}  # its members only
    refused = client_for(bob).get("/rooms/secret/people/?q=a")
    assert refused.status_code == 403
    too_long = client_for(alice).get("/rooms/general/people/", {"q": "a" * 151})
    assert too_long.status_code == 400 and "at most 150" in too_long.json()["error"]


def test_the_composer_offers_people_for_mentions(alice, general):
    page = client_for(alice).get("/rooms/general/").content.decode()
    assert 'data-people-url="/rooms/general/people/"' in page
    assert 'id="mention-list" role="listbox"' in page and 'aria-controls="mention-list"' in page


# Editing and deleting a message


def edit_json(client, message, text, room="general"):
    return client.post(f"/rooms/{room}/messages/{message.pk}/edit/", {"text": text}, HTTP_ACCEPT="application/json")


def delete_json(client, message, room="general"):
    return client.post(f"/rooms/{room}/messages/{message.pk}/delete/", HTTP_ACCEPT="application/json")


def test_the_author_edits_a_message_and_gets_it_back_formatted(alice, general, django_capture_on_commit_callbacks):
    message = posting.post(general, alice, "helo")
    with django_capture_on_commit_callbacks(execute=True):
        response = edit_json(client_for(alice), message, "*hello*")
    assert response.status_code == 200
    data = response.json()["message"]
    message.refresh_from_db()
    assert (data["text"], data["html"], data["edited"]) == (
        "*hello*",
        "<p><em>hello</em></p>",
        message.edited.isoformat(),
    )
    assert published("chat.message.edited") == [(["/chat/rooms/general"], data, True)]
    body = json.dumps({"text": "hello"})
    response = client_for(alice).post(
        f"/rooms/general/messages/{message.pk}/edit/", body, content_type="application/json"
    )
    assert response.status_code == 200 and Message.objects.get().text == "hello"


def test_an_edit_from_a_form_goes_back_to_the_message(alice, general):
    message = posting.post(general, alice, "helo")
    response = client_for(alice).post(f"/rooms/general/messages/{message.pk}/edit/", {"text": "hello"})
    assert response.status_code == 303 and response["Location"] == f"/rooms/general/#message-{message.pk}"


def test_edited_and_deleted_messages_on_the_page_and_in_history(alice, bob, general):
    kept = posting.post(general, alice, "kept")
    gone = posting.post(general, alice, "gone for good")
    edited = posting.post(general, alice, "draft")
    client = client_for(alice)
    edit_json(client, edited, "final")
    delete_json(client, gone)
    page = client_for(bob).get("/rooms/general/")
    assert [m.pk for m in page.context["chat_messages"]] == [kept.pk, edited.pk]
    html = page.content.decode()
    assert "gone for good" not in html and "final" in html and "draft" not in html
    assert html.count('class="message-edited"') == 2  # the edited message's, and the template's (hidden)
    history = client.get(f"/rooms/general/messages/?before={edited.pk + 1}").json()["messages"]
    assert [m["text"] for m in history] == ["kept", "final"]
    assert history[0]["edited"] is None and history[1]["edited"]


def test_the_author_and_moderators_delete_others_get_403_in_words(alice, bob, general):
    general.created_by = alice
    general.save()
    carol = make_guest("carol")
    message = posting.post(general, bob, "bob's")
    response = delete_json(client_for(carol), message)
    assert response.status_code == 403
    assert response.json() == {"error": "Only its author, the room's owner or staff can delete a message."}
    response = edit_json(client_for(alice), message, "owner's")
    assert response.status_code == 403 and response.json() == {"error": "Only its author can edit a message."}
    assert delete_json(client_for(alice), message).status_code == 204
    stored = Message.objects.get()
    assert (stored.text, stored.deleted_by) == ("bob's", alice)
    own = posting.post(general, bob, "mine")
    response = client_for(bob).post(f"/rooms/general/messages/{own.pk}/delete/")
    assert response.status_code == 303 and response["Location"] == "/rooms/general/"
    assert Message.objects.visible().count() == 0


def test_an_unknown_deleted_or_elsewhere_message_is_404(alice, general, secret):
    client = client_for(alice)
    elsewhere = posting.post(secret, alice, "in secret")
    assert edit_json(client, elsewhere, "moved?").status_code == 404  # not a message of general
    response = client.post("/rooms/general/messages/999999/delete/", HTTP_ACCEPT="application/json")
    assert response.status_code == 404 and "has no message 999999" in response.json()["error"]
    message = posting.post(general, alice, "soon gone")
    delete_json(client, message)
    assert delete_json(client, message).status_code == 404
    assert edit_json(client, message, "back?").status_code == 404
    assert client.post("/rooms/nowhere/messages/1/delete/").status_code == 404
    for action in ("edit", "delete", "reactions"):
        url = f"/rooms/general/messages/{'9' * 30}/{action}/"
        assert client.post(url, {"text": "x", "emoji": "👍"}, HTTP_ACCEPT="application/json").status_code == 404


def test_a_private_rooms_messages_are_403_to_others(alice, bob, secret):
    message = posting.post(secret, alice, "members only")
    for response in (
        edit_json(client_for(bob), message, "x", "secret"),
        delete_json(client_for(bob), message, "secret"),
    ):
        assert response.status_code == 403 and "private room" in response.json()["error"]
    assert Message.objects.get().deleted_at is None


@pytest.mark.parametrize(
    ("text", "status"), [("  ", 400), ("y" * 2001, 413), (None, 400)], ids=["empty", "long", "not-text"]
)
def test_an_edit_to_bad_text_is_refused_in_words(alice, general, text, status):
    message = posting.post(general, alice, "fine")
    client = client_for(alice)
    if text is None:
        body = json.dumps({"text": ["a list"]})
        response = client.post(f"/rooms/general/messages/{message.pk}/edit/", body, content_type="application/json")
    else:
        response = edit_json(client, message, text)
    assert response.status_code == status and response.json()["error"]
    assert Message.objects.get().text == "fine"


def test_edits_and_deletions_need_post_a_session_and_csrf(alice, general):
    message = posting.post(general, alice, "fine")
    url = f"/rooms/general/messages/{message.pk}/edit/"
    assert client_for(alice).get(url).status_code == 405
    assert Client().post(url, {"text": "x"}, HTTP_ACCEPT="application/json").status_code == 401
    strict = client_for(alice, enforce_csrf_checks=True)
    assert strict.post(url, {"text": "x"}).status_code == 403
    assert strict.post(f"/rooms/general/messages/{message.pk}/delete/").status_code == 403
    assert Message.objects.get().text == "fine" and Message.objects.get().deleted_at is None


def test_edits_are_rate_limited_with_posts(alice, general, settings):
    settings.CHAT_RATE_LIMIT = (2, 60)
    message = posting.post(general, alice, "one")
    client = client_for(alice)
    assert edit_json(client, message, "two").status_code == 200
    response = edit_json(client, message, "three")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert "too fast" in response.json()["error"]


def test_edits_and_deletions_while_the_cache_is_down_are_503_in_words(alice, general, cache_down):
    message = Message.objects.create(room=general, author=alice, text="fine")
    client = client_for(alice)
    response = edit_json(client, message, "better")
    assert response.status_code == 503 and response.json()["error"].startswith("Your edit was not saved: ")
    response = delete_json(client, message)
    assert response.status_code == 503 and response.json()["error"].startswith("The message was not deleted: ")
    assert Message.objects.get().text == "fine" and Message.objects.get().deleted_at is None


# Reactions


def react_json(client, message, emoji, room="general"):
    return client.post(
        f"/rooms/{room}/messages/{message.pk}/reactions/", {"emoji": emoji}, HTTP_ACCEPT="application/json"
    )


def test_a_reaction_toggles_and_answers_the_whole_set(alice, bob, general, django_capture_on_commit_callbacks):
    message = posting.post(general, alice, "lunch?")
    with django_capture_on_commit_callbacks(execute=True):
        response = react_json(client_for(bob), message, "👍")
    assert response.status_code == 200
    body = response.json()
    assert body["added"] is True and body["reactions"] == [{"emoji": "👍", "count": 1, "users": ["bob"]}]
    assert isinstance(body["at"], int) and published("chat.message.reactions")[0][1]["reactions"] == body["reactions"]
    again = react_json(client_for(bob), message, "👍").json()
    assert again["added"] is False and again["reactions"] == []
    form = client_for(bob).post(f"/rooms/general/messages/{message.pk}/reactions/", {"emoji": "❤️"})
    assert form.status_code == 303 and form["Location"] == f"/rooms/general/#message-{message.pk}"


def test_the_page_and_history_carry_the_reactions_read_after_their_time(alice, bob, general):
    message = posting.post(general, alice, "lunch?")
    react_json(client_for(bob), message, "😂")
    page = client_for(alice).get("/rooms/general/")
    assert page.context["chat_messages"][0].reactions_json == '[{"emoji": "😂", "count": 1, "users": ["bob"]}]'
    assert 'data-emoji="👍 ❤️ 😂 🎉 😮 😢"' in page.content.decode()
    history = client_for(alice).get(f"/rooms/general/messages/?before={message.pk + 1}").json()
    assert history["messages"][0]["reactions"] == [{"emoji": "😂", "count": 1, "users": ["bob"]}]
    assert isinstance(history["at"], int)


def test_reaction_errors_in_words(alice, bob, general, secret):
    message = posting.post(general, alice, "hi")
    response = react_json(client_for(alice), message, "👎")
    assert response.status_code == 400 and "React with one of" in response.json()["error"]
    response = client_for(alice).post(
        "/rooms/general/messages/999999/reactions/", {"emoji": "👍"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 404
    hidden = posting.post(secret, alice, "members only")
    response = react_json(client_for(bob), hidden, "👍", "secret")
    assert response.status_code == 403 and "private room" in response.json()["error"]
    editing.delete(message, alice)
    assert react_json(client_for(alice), message, "👍").status_code == 404
    strict = client_for(alice, enforce_csrf_checks=True)
    other = posting.post(general, alice, "again")
    assert strict.post(f"/rooms/general/messages/{other.pk}/reactions/", {"emoji": "👍"}).status_code == 403
    assert client_for(alice).get(f"/rooms/general/messages/{other.pk}/reactions/").status_code == 405
    assert not Reaction.objects.exists()


def test_reactions_while_the_cache_is_down_are_503_in_words(alice, general, cache_down):
    message = Message.objects.create(room=general, author=alice, text="fine")
    response = react_json(client_for(alice), message, "👍")
    assert response.status_code == 503 and response.json()["error"].startswith("Your reaction was not saved: ")


# Unread


def test_viewing_marks_read_and_the_room_lists_show_unread_counts(alice, bob, general, secret):
    secret.members.add(bob)
    client = client_for(alice)
    assert client.get("/rooms/general/read/").json() == {"state": None}  # never viewed
    assert client.get("/rooms/secret/read/").json()["state"]["last_read"] == 0  # a member since it was empty
    first = posting.post(secret, bob, "one")
    response = client.post("/rooms/secret/read/", {"last": str(first.pk)}, HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response.json()["state"]["unread"] == 0
    posting.post(secret, bob, "two")
    posting.post(secret, bob, "three")
    page = client.get("/rooms/general/")
    html = page.content.decode()
    assert '<span class="unread-count" aria-hidden="true">2</span>' in html
    assert '<span class="visually-hidden unread-label"> (2 unread)</span>' in html
    links = {room.slug: room for room in page.context["rooms"]}
    assert json.loads(links["secret"].unread_state)["unread"] == 2 and not hasattr(links["general"], "unread_state")
    room = client.get("/rooms/secret/")
    assert room.context["last_read"] == first.pk and f'data-last-read="{first.pk}"' in room.content.decode()
    assert client.get("/rooms/secret/read/").json()["state"]["unread"] == 2


@pytest.mark.parametrize("last", ["", "x", "-1", "١", "9" * 19])
def test_a_read_marker_needs_a_message_id(alice, general, last):
    response = client_for(alice).post("/rooms/general/read/", {"last": last}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and "“last”" in response.json()["error"]


def test_read_markers_of_a_private_room_are_403_to_others_and_need_csrf(alice, bob, secret, general):
    response = client_for(bob).post("/rooms/secret/read/", {"last": "1"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 403 and "private room" in response.json()["error"]
    assert client_for(bob).get("/rooms/secret/read/", HTTP_ACCEPT="application/json").status_code == 403
    assert client_for(alice).post("/rooms/nowhere/read/", {"last": "1"}).status_code == 404
    assert client_for(alice, enforce_csrf_checks=True).post("/rooms/general/read/", {"last": "1"}).status_code == 403
    assert list(ReadMarker.objects.values_list("user__username", "room__slug")) == [("alice", "secret")]


def test_read_markers_over_the_limit_are_429_and_503_without_the_cache(alice, bob, general, settings):
    settings.CHAT_READ_RATE_LIMIT = (1, 60)
    messages = [posting.post(general, bob, f"m{n}") for n in range(2)]
    client = client_for(alice)
    client.post("/rooms/general/read/", {"last": str(messages[0].pk)})
    response = client.post("/rooms/general/read/", {"last": str(messages[1].pk)}, HTTP_ACCEPT="application/json")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0 and response.json()["error"]
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    response = client.post("/rooms/general/read/", {"last": str(messages[1].pk)}, HTTP_ACCEPT="application/json")
    assert response.status_code == 503 and response.json()["error"].startswith("That was not done: ")


# Direct messages


def test_a_message_link_opens_the_direct_conversation_and_reuses_it_from_either_side(alice, bob):
    response = client_for(alice).post("/direct/", {"to": "Bob"})  # names are found ignoring case
    assert response.status_code == 303
    room = Room.objects.get(is_direct=True)
    assert response["Location"] == f"/rooms/{room.slug}/"
    assert set(room.members.all()) == {alice, bob}
    again = client_for(bob).post("/direct/", {"to": "@alice"})
    assert (again.status_code, again["Location"]) == (303, response["Location"])
    assert Room.objects.filter(is_direct=True).count() == 1

    page = client_for(bob).get(response["Location"]).content.decode()
    assert '<span id="room-name">alice</span>' in page and "Direct messages" in page
    assert 'name="username"' not in page and "Leave this room" not in page  # its people are fixed
    lists = client_for(alice).get("/rooms/").content.decode()
    direct_list = lists.split('data-kind="direct"')[1].split("</ul>")[0]
    assert f'href="/rooms/{room.slug}/"' in direct_list and '<span class="room-name">bob</span>' in direct_list
    rooms_list = lists.split('data-kind="rooms"')[1].split("</ul>")[0]
    assert room.slug not in rooms_list


def test_a_group_conversation_takes_several_names(alice, bob):
    carol = make_guest("carol")
    response = client_for(alice).post("/direct/", {"to": "bob, carol"})
    assert response.status_code == 303
    room = Room.objects.get(is_direct=True)
    assert set(room.members.all()) == {alice, bob, carol}
    assert client_for(carol).post("/direct/", {"to": "bob alice"})["Location"] == response["Location"]


def test_outsiders_cannot_read_or_post_in_a_direct_conversation(alice, bob):
    carol = make_guest("carol")
    location = client_for(alice).post("/direct/", {"to": "bob"})["Location"]
    outsider = client_for(carol)
    assert outsider.get(location).status_code == 403
    assert outsider.get(f"{location}messages/", HTTP_ACCEPT="application/json").status_code == 403
    assert outsider.post(f"{location}messages/", {"text": "hi"}).status_code == 403
    assert not Message.objects.exists()
    assert client_for(bob).post(f"{location}messages/", {"text": "hi"}).status_code == 303


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        ("", "Say whom to message"),
        ("   ", "Say whom to message"),
        ("nobody", "Nobody is called “nobody”"),
        ("alice", "someone other than yourself"),
        ("bob\x00", "NUL"),
        (" ".join(f"p{n}" for n in range(12)), "at most 9 people"),
    ],
)
def test_a_conversation_that_cannot_be_started_is_400_in_words(alice, bob, to, reason):
    response = client_for(alice).post("/direct/", {"to": to}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and reason in response.json()["error"]
    assert not Room.objects.filter(is_direct=True).exists()


def test_starting_a_conversation_needs_a_post_and_a_signed_in_user(client, alice, bob):
    assert client_for(alice).get("/direct/").status_code == 405
    assert client.post("/direct/", {"to": "bob"}).status_code == 401


@pytest.mark.parametrize(
    ("path", "data", "reason"),
    [
        ("members/", {"username": "carol"}, "never change"),
        ("members/remove/", {"username": "bob"}, "never change"),
        ("leave/", {}, "never change"),
        ("settings/", {"name": "Renamed", "topic": ""}, "cannot be renamed"),
        ("archive/", {"archived": "yes"}, "cannot be archived"),
    ],
)
def test_the_people_of_a_conversation_are_fixed_and_it_has_no_settings(alice, bob, path, data, reason):
    make_guest("carol")
    alice.is_staff = True  # even staff
    alice.save()
    location = client_for(alice).post("/direct/", {"to": "bob"})["Location"]
    response = client_for(alice).post(f"{location}{path}", data, HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and reason in response.json()["error"]
    room = Room.objects.get(is_direct=True)
    assert set(room.members.all()) == {alice, bob} and not room.archived and room.name == "alice, bob"


def test_the_starter_of_a_conversation_does_not_manage_it(alice, bob):
    location = client_for(alice).post("/direct/", {"to": "bob"})["Location"]
    assert client_for(alice).post(f"{location}delete/", {"confirm": "yes"}).status_code == 403
    assert Room.objects.filter(is_direct=True).exists()


@pytest.mark.django_db(transaction=True)
async def test_a_conversation_appears_live_in_the_other_persons_lists_and_nobody_elses():
    alice, bob, carol = [await sync_to_async(make_guest)(name) for name in ("alice", "bob", "carol")]
    bob_page = await subscribe(f"/chat/users/{bob.pk}", headers={"cookie": await sync_to_async(session_cookie)(bob)})
    carol_page = await subscribe(
        f"/chat/users/{carol.pk}", "/chat/rooms", headers={"cookie": await sync_to_async(session_cookie)(carol)}
    )
    try:
        client = await sync_to_async(client_for)(alice)
        response = await sync_to_async(client.post)("/direct/", {"to": "bob"})
        assert response.status_code == 303
        [event] = await bob_page.read_events(1)
        room = await Room.objects.aget(is_direct=True)
        assert event["event"] == "chat.room"
        assert json.loads(event["data"]) == {
            "slug": room.slug,
            "name": "alice",
            "url": f"/rooms/{room.slug}/",
            "private": True,
            "direct": True,
        }
        assert await carol_page.nothing_more()
    finally:
        for stream in (bob_page, carol_page):
            await stream.close()


# Search and permalinks


def test_the_search_page_without_words_is_the_form(alice):
    response = client_for(alice).get("/search/", {"q": "  "})
    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="q"' in content and "search-result" not in content and "No messages found" not in content


def test_search_results_show_room_author_time_and_a_marked_snippet_linking_to_the_message(alice, bob, general, secret):
    hit = Message.objects.create(room=general, author=bob, text="the <b>deploy</b> is done")
    Message.objects.create(room=secret, author=alice, text="deploy the secret thing")
    content = client_for(bob).get("/search/", {"q": "deploy"}).content.decode()
    assert content.count('class="search-result"') == 1 and "secret thing" not in content
    assert f'href="/rooms/general/?around={hit.pk}#message-{hit.pk}"' in content
    assert '<span class="search-result-room">#General</span>' in content
    assert '<span class="search-result-author">bob</span>' in content
    assert f'<time datetime="{hit.created.isoformat()}">' in content
    assert "the &lt;b&gt;<mark>deploy</mark>&lt;/b&gt; is done" in content
    mine = client_for(alice).get("/search/", {"q": "deploy"}).content.decode()
    assert mine.count('class="search-result"') == 2 and "secret thing" in mine
    assert client_for(bob).get("/search/", {"q": "nothing"}).content.decode().count("No messages found") == 1


def test_a_direct_conversation_is_named_for_the_reader_in_results(alice, bob):
    room, _ = direct.start(alice, [bob])
    Message.objects.create(room=room, author=alice, text="lunch tomorrow?")
    content = client_for(bob).get("/search/", {"q": "lunch"}).content.decode()
    assert '<span class="search-result-room">@alice</span>' in content
    outsider = client_for(make_guest("carol")).get("/search/", {"q": "lunch"}).content.decode()
    assert 'class="search-result"' not in outsider and "No messages found" in outsider


@pytest.mark.parametrize(
    ("q", "reason"), [("?!", "at least one word"), ("x" * 201, "at most 200 characters"), ("a\x00", "NUL")]
)
def test_a_search_that_cannot_be_done_is_400_with_its_reason(alice, q, reason):
    response = client_for(alice).get("/search/", {"q": q})
    assert response.status_code == 400 and reason in response.content.decode()
    scripted = client_for(alice).get("/search/", {"q": q}, HTTP_ACCEPT="application/json")
    assert scripted.status_code == 400 and reason in scripted.json()["error"]


def test_searching_needs_a_signed_in_user(client):
    assert client.get("/search/", {"q": "x"}).status_code == 302


def test_a_permalink_opens_the_page_around_an_old_message(alice, general, settings):
    settings.CHAT_PAGE_SIZE = 4
    ids = [Message.objects.create(room=general, author=alice, text=f"number {n}").pk for n in range(12)]
    latest = client_for(alice).get("/rooms/general/").content.decode()
    assert f'id="message-{ids[3]}"' not in latest
    around = client_for(alice).get("/rooms/general/", {"around": ids[3]}).content.decode()
    shown = [pk for pk in ids if f'id="message-{pk}"' in around]
    assert shown == ids[1:5]  # the message, two older and one newer
    assert 'data-has-more="true"' in around and 'data-has-newer="true"' in around
    assert f'data-around="{ids[3]}"' in around and 'id="load-newer"' in around
    first = client_for(alice).get("/rooms/general/", {"around": ids[1]}).content.decode()
    assert [pk for pk in ids if f'id="message-{pk}"' in first] == ids[0:4] and 'data-has-more="false"' in first
    last = client_for(alice).get("/rooms/general/", {"around": ids[-1]}).content.decode()
    assert 'data-has-newer="false"' in last and 'id="load-newer"' not in last


def test_newer_pages_come_after_an_id(alice, general, settings):
    settings.CHAT_PAGE_SIZE = 3
    ids = [Message.objects.create(room=general, author=alice, text=f"n{n}").pk for n in range(5)]
    client = client_for(alice)
    page = client.get("/rooms/general/messages/", {"after": ids[0]}, HTTP_ACCEPT="application/json").json()
    assert [m["id"] for m in page["messages"]] == ids[1:4] and page["has_more"] is True
    page = client.get("/rooms/general/messages/", {"after": ids[3]}, HTTP_ACCEPT="application/json").json()
    assert [m["id"] for m in page["messages"]] == ids[4:] and page["has_more"] is False


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        ("/rooms/general/", {"around": "x1"}, "“around” must be a message id"),
        ("/rooms/general/", {"around": "²"}, "“around” must be a message id"),
        ("/rooms/general/messages/", {"after": "-1"}, "“after” must be a message id"),
        ("/rooms/general/messages/", {"after": "1", "before": "9"}, "not both"),
    ],
)
def test_bad_cursors_are_400_in_words(alice, general, path, params, reason):
    response = client_for(alice).get(path, params, HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and reason in response.json()["error"]


def test_a_permalink_into_a_private_room_is_403_for_outsiders(bob, secret):
    message = Message.objects.create(room=secret, author=secret.created_by, text="hush")
    assert client_for(bob).get("/rooms/secret/", {"around": message.pk}).status_code == 403


# Files and images


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def png(size=(40, 30)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def send_file(client, name: str, content: bytes, text: str = "", room: str = "general"):
    upload = SimpleUploadedFile(name, content, content_type="image/png")
    return client.post(f"/rooms/{room}/messages/", {"text": text, "file": upload}, HTTP_ACCEPT="application/json")


def test_an_image_is_posted_shown_as_a_thumbnail_and_published_live(
    alice, bob, general, media, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = send_file(client_for(alice), "cat.png", png(), text="look")
    assert response.status_code == 201
    attachment = Attachment.objects.get()
    data = response.json()["message"]
    assert data["text"] == "look" and data["attachment"] == {
        "name": "cat.png",
        "size": len(png()),
        "url": f"/attachments/{attachment.pk}/",
        "image": True,
        "thumbnail": f"/attachments/{attachment.pk}/thumbnail/",
        "width": 40,
        "height": 30,
    }
    assert published("chat.message") == [(["/chat/rooms/general"], data, True)]
    page = client_for(bob).get("/rooms/general/").content.decode()
    assert f'<img src="/attachments/{attachment.pk}/thumbnail/" width="40" height="30" alt="cat.png"' in page
    history = client_for(bob).get("/rooms/general/messages/", HTTP_ACCEPT="application/json").json()
    assert history["messages"][-1]["attachment"] == data["attachment"]

    thumbnail = client_for(bob).get(f"/attachments/{attachment.pk}/thumbnail/")
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/jpeg"
    assert thumbnail["X-Content-Type-Options"] == "nosniff"
    assert b"".join(thumbnail.streaming_content)[:2] == b"\xff\xd8"
    original = client_for(bob).get(f"/attachments/{attachment.pk}/")
    assert original["Content-Type"] == "image/png" and original["X-Content-Type-Options"] == "nosniff"
    assert original["Content-Disposition"] == 'attachment; filename="cat.png"'
    assert "sandbox" in original["Content-Security-Policy"]
    assert b"".join(original.streaming_content) == png()


def test_a_file_that_only_calls_itself_an_image_is_served_as_a_download(alice, general, media):
    response = send_file(client_for(alice), "evil.png", b"<script>alert(1)</script>")
    assert response.status_code == 201
    data = response.json()["message"]["attachment"]
    assert data["image"] is False and data["thumbnail"] == "" and data["width"] == 0
    attachment = Attachment.objects.get()
    download = client_for(alice).get(data["url"])
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"] == 'attachment; filename="evil.png"'
    assert download["X-Content-Type-Options"] == "nosniff"
    page = client_for(alice).get("/rooms/general/").content.decode()
    assert "<img" not in page.split('id="message-list"')[1].split("</ol>")[0]
    thumbnail = client_for(alice).get(f"/attachments/{attachment.pk}/thumbnail/", HTTP_ACCEPT="application/json")
    assert thumbnail.status_code == 404 and "not an image" in thumbnail.json()["error"]


def test_a_file_over_the_limit_is_413_with_the_limit_and_nothing_is_kept(alice, general, media, settings):
    settings.CHAT_MAX_UPLOAD_BYTES = 100
    response = send_file(client_for(alice), "big.bin", b"x" * 101)
    assert response.status_code == 413
    assert response.json()["error"] == "The file is 101 bytes; the limit is 100 bytes. Send a smaller one."
    assert not Message.objects.exists() and not (media / "hubbub_chat").exists()


def test_an_empty_file_is_400(alice, general, media):
    response = send_file(client_for(alice), "empty.txt", b"")
    assert response.status_code == 400 and "empty" in response.json()["error"]


def test_a_private_rooms_files_are_403_to_outsiders(alice, bob, secret, media):
    response = send_file(client_for(alice), "plan.png", png(), room="secret")
    attachment = Attachment.objects.get()
    assert response.status_code == 201
    for url in (f"/attachments/{attachment.pk}/", f"/attachments/{attachment.pk}/thumbnail/"):
        refused = client_for(bob).get(url, HTTP_ACCEPT="application/json")
        assert refused.status_code == 403 and "private room" in refused.json()["error"]
        assert client_for(alice).get(url).status_code == 200
    assert Client().get(f"/attachments/{attachment.pk}/").status_code == 302  # to the lobby
    assert client_for(bob).get("/attachments/999999/").status_code == 404
    # Outsiders cannot post one there either, and nothing is stored for them.
    before = sorted((media / "hubbub_chat").iterdir())
    assert send_file(client_for(bob), "x.png", png(), room="secret").status_code == 403
    assert sorted((media / "hubbub_chat").iterdir()) == before


def test_a_file_gone_from_the_storage_is_404_in_words(alice, general, media):
    send_file(client_for(alice), "gone.bin", b"bytes")
    attachment = Attachment.objects.get()
    (media / attachment.path).unlink()
    response = client_for(alice).get(f"/attachments/{attachment.pk}/", HTTP_ACCEPT="application/json")
    assert response.status_code == 404 and "no longer stored" in response.json()["error"]


def test_files_are_refused_in_an_archived_room(alice, general, media):
    general.archived = True
    general.save()
    response = send_file(client_for(alice), "a.png", png())
    assert response.status_code == 403 and not (media / "hubbub_chat").exists()


def test_a_deleted_messages_file_is_no_longer_served(alice, general, media):
    send_file(client_for(alice), "plan.png", png(), text="see")
    attachment = Attachment.objects.get()
    client = client_for(alice)
    assert client.get(f"/attachments/{attachment.pk}/").status_code == 200
    deleted = client.post(f"/rooms/general/messages/{attachment.message_id}/delete/", HTTP_ACCEPT="application/json")
    assert deleted.status_code == 204
    for url in (f"/attachments/{attachment.pk}/", f"/attachments/{attachment.pk}/thumbnail/"):
        assert client.get(url, HTTP_ACCEPT="application/json").status_code == 404
    # Kept for moderation, with the message.
    assert Attachment.objects.filter(pk=attachment.pk).exists()


def test_search_leaves_deleted_messages_out(alice, general):
    kept = posting.post(general, alice, "the quarterly numbers")
    gone = posting.post(general, alice, "the quarterly secret")
    editing.delete(gone, alice)
    page = client_for(alice).get("/search/", {"q": "quarterly"}).content.decode()
    assert f"message-{kept.pk}" in page and f"message-{gone.pk}" not in page
