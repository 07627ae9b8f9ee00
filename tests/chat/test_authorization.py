from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.test import Client

import hubbub
from hubbub.contrib.chat import events
from hubbub.contrib.chat.authorization import room_topics
from hubbub.contrib.chat.models import Room
from tests.hubbub.asgi import subscribe

from .conftest import make_guest


@pytest.fixture
def rooms(db, alice, bob):
    hidden = Room.objects.create(slug="hidden", name="Hidden", is_private=True)
    hidden.members.add(bob)
    secret = Room.objects.create(slug="secret", name="Secret", is_private=True)
    secret.members.add(alice)
    return secret, hidden


def test_exact_room_topics_are_granted_for_readable_rooms_only(alice, rooms, general):
    asked = ["/chat/rooms/secret", "/chat/rooms/hidden", "/chat/rooms/general", "/chat/rooms/nope", "/other"]
    assert sorted(room_topics(alice, asked)) == ["/chat/rooms/general", "/chat/rooms/secret"]


def test_a_wildcard_or_template_covers_every_readable_room(alice, rooms, general):
    assert sorted(room_topics(alice, ["*"])) == [
        "/chat/rooms",
        "/chat/rooms/general",
        "/chat/rooms/secret",
        f"/chat/users/{alice.pk}",
    ]
    assert sorted(room_topics(alice, ["/chat/rooms/{slug}"])) == ["/chat/rooms/general", "/chat/rooms/secret"]
    assert list(room_topics(alice, ["/elsewhere/{x}"])) == []


def test_the_room_directory_is_for_anyone_signed_in(alice, rooms):
    assert list(room_topics(alice, ["/chat/rooms"])) == ["/chat/rooms"]
    assert list(room_topics(AnonymousUser(), ["/chat/rooms"])) == []


def test_a_users_chat_topic_is_for_that_user_alone(alice, bob, rooms):
    mine, theirs = f"/chat/users/{alice.pk}", f"/chat/users/{bob.pk}"
    assert list(room_topics(alice, [mine, theirs])) == [mine]
    assert list(room_topics(alice, ["/chat/users/{id}"])) == [mine]
    assert list(room_topics(bob, [mine])) == []
    assert list(room_topics(AnonymousUser(), [mine, "/chat/users/{id}", "*"])) == []


def test_nothing_for_anonymous_users_or_unrelated_topics(alice, rooms):
    assert list(room_topics(AnonymousUser(), ["/chat/rooms/secret"])) == []
    assert list(room_topics(alice, ["/notifications/alice"])) == []


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.mark.django_db(transaction=True)
async def test_a_private_room_update_reaches_members_only():
    alice, bob = await sync_to_async(make_guest)("alice"), await sync_to_async(make_guest)("bob")
    room = await Room.objects.acreate(slug="secret", name="Secret", is_private=True)
    await room.members.aadd(alice)
    member = await subscribe("/chat/rooms/secret", headers={"cookie": await sync_to_async(session_cookie)(alice)})
    outsider = await subscribe("/chat/rooms/secret", headers={"cookie": await sync_to_async(session_cookie)(bob)})
    anonymous = await subscribe("/chat/rooms/secret")
    try:
        await hubbub.apublish("/chat/rooms/secret", json.dumps({"text": "psst"}), private=True, type="chat.message")
        [event] = await member.read_events(1)
        assert (event["event"], json.loads(event["data"])) == ("chat.message", {"text": "psst"})
        assert await outsider.nothing_more() and await anonymous.nothing_more()
    finally:
        for stream in (member, outsider, anonymous):
            await stream.close()


@pytest.mark.django_db(transaction=True)
async def test_public_room_updates_reach_signed_in_people_only():
    """A public room is for anyone signed in, so its updates are private to the hub too."""
    alice = await sync_to_async(make_guest)("alice")
    room = await Room.objects.acreate(slug="open", name="Open")
    signed_in = await subscribe("/chat/rooms/open", headers={"cookie": await sync_to_async(session_cookie)(alice)})
    anonymous = await subscribe("/chat/rooms/open")
    try:
        await sync_to_async(events.message_deleted)(room, 7)
        [event] = await signed_in.read_events(1)
        assert (event["event"], json.loads(event["data"])) == ("chat.deleted", {"id": 7, "room": "open"})
        assert await anonymous.nothing_more()
    finally:
        await signed_in.close()
        await anonymous.close()
