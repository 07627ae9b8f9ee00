import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from hubbub.contrib import notifications
from hubbub.contrib.notifications.models import Notification
from tests.published import published

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(db):
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_changelist_and_mark_as_read_action_publishes(alice, bob, admin_client):
    ids = [
        notifications.notify(alice, "a1").pk,
        notifications.notify(alice, "a2").pk,
        notifications.notify(bob, "b1").pk,
    ]
    assert admin_client.get("/admin/hubbub_notifications/notification/?q=alice").status_code == 200
    response = admin_client.post(
        "/admin/hubbub_notifications/notification/",
        {"action": "mark_as_read", "_selected_action": ids[1:]},
        follow=True,
    )
    assert "Marked 2 notification(s) as read." in response.content.decode()
    assert list(Notification.objects.unread().values_list("pk", flat=True)) == [ids[0]]
    assert sorted((data["ids"], data["unread"]) for _, data, _ in published("notification.read")) == [
        ([ids[1]], 1),
        ([ids[2]], 0),
    ]


def test_adding_in_the_admin_publishes_and_validates_the_link(alice, admin_client):
    form = {
        "recipient": alice.pk,
        "title": "From admin",
        "body": "",
        "url": "javascript:alert(1)",
        "level": "info",
        "created_0": "2026-01-01",
        "created_1": "10:00:00",
    }
    response = admin_client.post("/admin/hubbub_notifications/notification/add/", form)
    assert response.status_code == 200 and "Enter a path on this site" in response.content.decode()
    response = admin_client.post("/admin/hubbub_notifications/notification/add/", {**form, "url": "/somewhere/"})
    assert response.status_code == 302
    assert [data["title"] for _, data, _ in published("notification")] == ["From admin"]
