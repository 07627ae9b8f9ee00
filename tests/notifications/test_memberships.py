import pytest
from django.test import Client

from hubbub.contrib.chat.models import Room
from hubbub.contrib.chat.signals import member_added
from hubbub.contrib.notifications.memberships import notify_member_added
from hubbub.contrib.notifications.models import TITLE_MAX_LENGTH, Notification
from hubbub.contrib.notifications.topics import user_topic
from tests.published import published

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def secret(alice):
    room = Room.objects.create(slug="secret", name="Secret", is_private=True, created_by=alice)
    room.members.add(alice)
    return room


def add_member(by, room, username):
    client = Client()
    client.force_login(by)
    return client.post(f"/rooms/{room.slug}/members/", {"username": username})


def test_a_member_added_to_a_private_room_is_notified_with_a_link_to_it(alice, bob, secret):
    assert add_member(alice, secret, "bob").status_code == 302
    notification = Notification.objects.get()
    assert notification.recipient == bob
    assert (notification.title, notification.body, notification.url, notification.level) == (
        "alice added you to Secret",
        "",
        "/rooms/secret/",
        "info",
    )
    [(topics, data, private)] = published("notification")
    assert (topics, private) == ([user_topic(bob)], True)
    assert (data["id"], data["title"], data["url"], data["unread"]) == (
        notification.pk,
        "alice added you to Secret",
        "/rooms/secret/",
        1,
    )


def test_the_member_who_added_them_is_not_notified(alice, bob, carol, secret):
    add_member(alice, secret, "bob")
    add_member(bob, secret, "carol")
    assert sorted(Notification.objects.values_list("recipient__username", "title")) == [
        ("bob", "alice added you to Secret"),
        ("carol", "bob added you to Secret"),
    ]
    assert not Notification.objects.filter(recipient=alice).exists()
    assert [topics for topics, _, _ in published("notification")] == [[user_topic(bob)], [user_topic(carol)]]


def test_adding_oneself_or_to_a_public_room_notifies_no_one(alice, bob, secret):
    public = Room.objects.create(slug="town-square", name="Town square")
    member_added.send(sender=Room, room=secret, user=alice, by=alice)
    member_added.send(sender=Room, room=public, user=bob, by=alice)
    assert not Notification.objects.exists()
    assert published("notification") == []


def test_a_membership_added_outside_the_form_is_not_notified(bob, secret):
    secret.members.add(bob)  # admin or shell: who added bob is not known
    assert not Notification.objects.exists()


def test_long_names_are_shortened_in_the_title(alice, bob):
    alice.username = "a" * 150
    alice.save()
    room = Room.objects.create(slug="long", name="r" * 60, is_private=True)
    notify_member_added(sender=Room, room=room, user=bob, by=alice)
    title = Notification.objects.get(recipient=bob).title
    assert len(title) == TITLE_MAX_LENGTH and title.startswith("a" * 150 + " added you to r") and title.endswith("…")
