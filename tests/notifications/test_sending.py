import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import transaction

from hubbub.contrib import notifications
from hubbub.contrib.notifications.models import Notification
from hubbub.contrib.notifications.topics import user_topic
from hubbub.models import StoredUpdate
from tests.published import published

pytestmark = pytest.mark.django_db(transaction=True)


def test_notify_one_user_stores_then_publishes_privately_to_their_topic(alice):
    notification = notifications.notify(alice, "Build passed", "All green", url="/builds/7", level="success")

    assert isinstance(notification, Notification)
    stored = Notification.objects.get()
    assert (stored.pk, stored.recipient, stored.title, stored.body, stored.url, stored.level, stored.read_at) == (
        notification.pk,
        alice,
        "Build passed",
        "All green",
        "/builds/7",
        "success",
        None,
    )
    [(topics, data, private)] = published("notification")
    assert topics == [user_topic(alice)] == [f"/notifications/users/{alice.pk}"]
    assert private is True
    assert data == {
        "id": notification.pk,
        "title": "Build passed",
        "body": "All green",
        "url": "/builds/7",
        "level": "success",
        "created": stored.created.isoformat(),
        "read": False,
        "unread": 1,
    }


def test_unread_count_in_each_event_is_absolute(alice):
    notifications.notify(alice, "one")
    notifications.notify(alice, "two")
    Notification.objects.filter(title="one").update(read_at="2026-01-01T00:00:00Z")
    notifications.notify(alice, "three")
    assert [data["unread"] for _, data, _ in published("notification")] == [1, 2, 2]


def test_notify_a_list_or_queryset_returns_one_notification_per_distinct_user(alice, bob):
    created = notifications.notify([alice, bob, alice], "Hello")
    assert [n.recipient for n in created] == [alice, bob]
    created = notifications.notify(get_user_model().objects.filter(username__in=["alice", "bob"]), "Again")
    assert sorted(n.recipient.username for n in created) == ["alice", "bob"]
    assert Notification.objects.count() == 4
    topics = sorted(topics[0] for topics, _, _ in published("notification"))
    assert topics == sorted([user_topic(alice), user_topic(bob)] * 2)


def test_notify_a_group_by_name(team, alice, bob, carol):
    created = notifications.notify("team", "Stand-up in 5 minutes")
    assert sorted(n.recipient.username for n in created) == ["alice", "bob"]
    assert not Notification.objects.filter(recipient=carol).exists()
    assert len(published("notification")) == 2


def test_empty_group_or_list_notifies_no_one(db):
    from django.contrib.auth.models import Group

    Group.objects.create(name="nobody")
    assert notifications.notify("nobody", "Hello") == []
    assert notifications.notify([], "Hello") == []
    assert StoredUpdate.objects.count() == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"title": ""}, "title must not be empty"),
        ({"title": "   "}, "title must not be empty"),
        ({"title": "x" * 201}, "title is longer than 200 characters"),
        ({"body": "x" * 4001}, "body is longer than 4000 characters"),
        ({"url": "/" + "x" * 2000}, "url is longer than 2000 characters"),
        ({"url": "javascript:alert(1)"}, "url must be a path on this site"),
        ({"url": "//evil.example/path"}, "url must be a path on this site"),
        ({"level": "critical"}, "level must be one of info, success, warning, error"),
        ({"title": None}, "title must be a string"),
    ],
)
def test_invalid_fields_raise_value_error_and_store_nothing(alice, kwargs, message):
    arguments = {"title": "ok", **kwargs}
    with pytest.raises(ValueError, match=message):
        notifications.notify(alice, **arguments)
    assert Notification.objects.count() == 0
    assert StoredUpdate.objects.count() == 0


def test_bad_recipients_raise_value_error(alice):
    with pytest.raises(ValueError, match="no group named 'ghosts'"):
        notifications.notify("ghosts", "Hello")
    with pytest.raises(ValueError, match="recipient must be a user"):
        notifications.notify(42, "Hello")
    with pytest.raises(ValueError, match="recipient must be a saved User"):
        notifications.notify([alice, "bob"], "Hello")
    assert Notification.objects.count() == 0


def test_rolled_back_transaction_notifies_no_one(alice):
    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        with transaction.atomic():
            notifications.notify(alice, "Never sent")
            raise Abort
    assert Notification.objects.count() == 0
    assert StoredUpdate.objects.count() == 0


def test_inside_a_transaction_the_update_waits_for_the_commit(alice):
    with transaction.atomic():
        notifications.notify(alice, "Sent on commit")
        assert Notification.objects.count() == 1
        assert StoredUpdate.objects.count() == 0
    assert [data["title"] for _, data, _ in published("notification")] == ["Sent on commit"]


async def test_anotify_from_async_code(alice, bob):
    notification = await notifications.anotify(alice, "From async", level="warning")
    assert notification.recipient_id == alice.pk
    several = await notifications.anotify([alice, bob], "Both")
    assert len(several) == 2
    updates = await sync_to_async(published)("notification")
    assert [(topics[0], data["title"], data["level"]) for topics, data, _ in updates] == [
        (user_topic(alice), "From async", "warning"),
        (user_topic(alice), "Both", "info"),
        (user_topic(bob), "Both", "info"),
    ]


async def test_notify_from_async_code_is_refused_with_a_pointer_to_anotify(alice):
    with pytest.raises(Exception, match="async"):
        notifications.notify(alice, "Wrong way")
