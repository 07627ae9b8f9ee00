import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from hubbub.contrib import notifications
from hubbub.contrib.notifications.authorization import user_topics
from hubbub.contrib.notifications.topics import user_topic
from tests.hubbub.asgi import subscribe

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_layer")]


def test_a_user_may_read_only_their_own_topic(alice, bob):
    assert user_topics(alice, ["*"]) == [f"/notifications/users/{alice.pk}"]
    assert user_topics(bob, [user_topic(alice)]) == [user_topic(bob)]
    assert user_topics(AnonymousUser(), [user_topic(alice)]) == []


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def test_a_user_never_receives_another_users_notification(alice, bob):
    alice_cookie = await sync_to_async(session_cookie)(alice)
    bob_cookie = await sync_to_async(session_cookie)(bob)
    alice_page = await subscribe(user_topic(alice), headers={"cookie": alice_cookie})
    # Bob asks for Alice's topic by name, for every topic and by template, with his own session.
    bob_snooping = await subscribe(
        user_topic(alice), "*", "/notifications/users/{id}", user_topic(bob), headers={"cookie": bob_cookie}
    )
    anonymous = await subscribe(user_topic(alice), "*")

    notification = await notifications.anotify(alice, "For Alice only", "secret")

    [event] = await alice_page.read_events(1)
    assert event["event"] == "notification"
    assert json.loads(event["data"])["id"] == notification.pk
    assert json.loads(event["data"])["body"] == "secret"
    assert await bob_snooping.nothing_more()
    assert await anonymous.nothing_more()

    # Bob's own notification still reaches him on the same connection.
    await notifications.anotify(bob, "For Bob")
    [event] = await bob_snooping.read_events(1)
    assert json.loads(event["data"])["title"] == "For Bob"
    assert await alice_page.nothing_more()
    for stream in (alice_page, bob_snooping, anonymous):
        await stream.close()
