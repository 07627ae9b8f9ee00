import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from hubbub.contrib.chat.models import Message, Room
from hubbub.contrib.chat.signals import message_posted
from hubbub.contrib.notifications.mentions import candidate_names, mentioned_users, notify_mentions
from hubbub.contrib.notifications.models import Notification
from tests.published import published

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def users(db):
    User = get_user_model()
    return {name: User.objects.create_user(name) for name in ["alice", "bob", "Lady Macbeth", "Lady", "o.brien"]}


def names(text: str) -> list[str]:
    return [u.username for u in mentioned_users(text)]


def test_candidates_are_longest_first_without_trailing_punctuation():
    assert candidate_names("hi @Lady Macbeth, look") == [["lady macbeth", "lady"]]
    assert candidate_names("@bob: and @alice.") == [["bob"], ["alice.", "alice"]]
    assert candidate_names("@Puck and Mistress Quickly") == [
        ["puck and mistress quickly", "puck and mistress", "puck and", "puck"]
    ]
    assert candidate_names("mail me at bob@example.com or @@bob") == []


def test_mentions_match_existing_usernames_case_insensitively(users):
    assert names("@ALICE and @bob!") == ["alice", "bob"]
    assert names("@Lady Macbeth, thoughts?") == ["Lady Macbeth"]
    assert names("@Lady, thoughts?") == ["Lady"]
    assert names("ping @o.brien.") == ["o.brien"]
    assert names("@bob's and @Lady Macbeth’s") == ["bob", "Lady Macbeth"]
    assert names("@alice @alice @Alice") == ["alice"]
    assert names("@nobody and alice@example.com") == []


def test_inactive_users_are_not_mentioned(users):
    users["bob"].is_active = False
    users["bob"].save()
    assert names("@bob") == []


@pytest.fixture
def room(db):
    return Room.objects.create(slug="lobby", name="Lobby")


def post(room, author, text):
    message = Message.objects.create(room=room, author=author, text=text)
    message_posted.send(sender=Message, message=message)
    return message


def test_message_posted_notifies_each_mentioned_user_once_never_the_author(users, room):
    message = post(room, users["alice"], "@bob @alice @Bob see @Lady Macbeth's idea")
    rows = list(Notification.objects.order_by("pk"))
    assert [n.recipient.username for n in rows] == ["bob", "Lady Macbeth"]
    for notification in rows:
        assert notification.title == "alice mentioned you in Lobby"
        assert notification.body == message.text
        assert notification.url == f"/rooms/lobby/#message-{message.pk}"


def test_a_message_without_mentions_notifies_no_one(users, room):
    post(room, users["alice"], "hello everyone, mail bob@example.com")
    assert Notification.objects.count() == 0


def test_long_messages_are_shortened_in_the_body(users, room):
    post(room, users["alice"], "@bob " + "x" * 1000)
    body = Notification.objects.get().body
    assert len(body) == 300 and body.endswith("…")


def test_receiver_works_with_any_object_honouring_the_contract(users):
    class FakeRoom:
        name = "Somewhere"

        def get_absolute_url(self):
            return "/rooms/somewhere/"

        def is_readable_by(self, user):
            return True

    class FakeMessage:
        pk = 9
        text = "hey @alice"
        author = users["bob"]
        room = FakeRoom()

    notify_mentions(sender=object, message=FakeMessage())
    notification = Notification.objects.get()
    assert (notification.recipient.username, notification.url) == ("alice", "/rooms/somewhere/#message-9")


def test_a_mention_in_a_private_room_notifies_only_members(users):
    room = Room.objects.create(slug="cabal", name="Secret Cabal", is_private=True)
    room.members.add(users["alice"], users["bob"])
    post(room, users["alice"], "@bob @Lady Macbeth the plan is ready")
    [notification] = Notification.objects.all()
    assert notification.recipient == users["bob"]
    assert notification.title == "alice mentioned you in Secret Cabal"
    # Nothing reaches the non-member: no row, no update on their topic.
    assert not Notification.objects.filter(recipient=users["Lady Macbeth"]).exists()
    assert [topics for topics, _, _ in published("notification")] == [[f"/notifications/users/{users['bob'].pk}"]]


def test_a_room_that_cannot_tell_who_may_read_it_notifies_no_one(users):
    class Unknown:
        name = "Somewhere"

    class FakeMessage:
        pk = 9
        text = "hey @alice"
        author = users["bob"]
        room = Unknown()

    notify_mentions(sender=object, message=FakeMessage())
    assert not Notification.objects.exists()


def test_an_edit_notifies_only_the_people_it_mentions_for_the_first_time(users, room):
    message = post(room, users["alice"], "hi @bob")
    client = Client()
    client.force_login(users["alice"])
    url = f"/rooms/lobby/messages/{message.pk}/edit/"
    headers = {"Accept": "application/json"}
    assert client.post(url, {"text": "hi @bob and @Lady Macbeth"}, headers=headers).status_code == 200
    assert client.post(url, {"text": "hi @Lady Macbeth"}, headers=headers).status_code == 200
    assert client.post(url, {"text": "hi @Lady Macbeth, @bob and @o.brien"}, headers=headers).status_code == 200
    rows = list(Notification.objects.order_by("pk"))
    assert [n.recipient.username for n in rows] == ["bob", "Lady Macbeth", "o.brien"]
    assert rows[-1].body == "hi @Lady Macbeth, @bob and @o.brien"
