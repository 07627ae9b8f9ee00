import pytest

from hubbub.contrib import notifications
from hubbub.contrib.notifications.models import Notification
from hubbub.contrib.notifications.reading import mark_read
from hubbub.contrib.notifications.topics import user_topic
from tests.published import published

pytestmark = pytest.mark.django_db(transaction=True)


def test_mark_one_read_publishes_ids_and_absolute_unread_count(alice):
    first, second = (notifications.notify(alice, title) for title in ("first", "second"))
    assert mark_read(alice, [first.pk]) == [first.pk]
    assert Notification.objects.get(pk=first.pk).read_at is not None
    assert Notification.objects.get(pk=second.pk).read_at is None
    [(topics, data, private)] = published("notification.read")
    assert (topics, private) == ([user_topic(alice)], True)
    assert data == {"ids": [first.pk], "up_to": first.pk, "unread": 1}


def test_marking_again_or_another_users_notification_changes_and_publishes_nothing(alice, bob):
    mine = notifications.notify(alice, "mine")
    mark_read(alice, [mine.pk])
    theirs = notifications.notify(bob, "theirs")
    assert mark_read(alice, [mine.pk]) == []
    assert mark_read(alice, [theirs.pk]) == []
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    assert len(published("notification.read")) == 1


def test_mark_all_read_up_to_leaves_newer_ones_unread(alice, bob):
    older = [notifications.notify(alice, f"n{i}") for i in range(3)]
    newer = notifications.notify(alice, "arrived after the page rendered")
    bobs = notifications.notify(bob, "bob's")
    assert mark_read(alice, up_to=older[-1].pk) == [n.pk for n in older]
    assert list(Notification.objects.unread().values_list("pk", flat=True).order_by("pk")) == [newer.pk, bobs.pk]
    assert published("notification.read")[-1][1] == {"ids": [n.pk for n in older], "up_to": older[-1].pk, "unread": 1}
    assert mark_read(alice) == [newer.pk]
    assert published("notification.read")[-1][1]["unread"] == 0
