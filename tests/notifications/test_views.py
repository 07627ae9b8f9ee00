import re

import pytest
from django.test import Client
from django.urls import reverse

import hubbub
from hubbub.contrib import notifications
from hubbub.contrib.notifications.models import Notification
from hubbub.contrib.notifications.topics import user_topic
from hubbub.contrib.notifications.views import PAGE_SIZE
from tests.published import published

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


def test_list_requires_sign_in(db):
    response = Client().get("/notifications/")
    assert response.status_code == 302
    assert response["Location"].startswith("/?next=")


def test_list_shows_newest_first_unread_marked_links_and_escaped_text(alice, bob, alice_client):
    old = notifications.notify(alice, "Old one")
    Notification.objects.filter(pk=old.pk).update(read_at="2026-01-01T00:00:00Z")
    notifications.notify(alice, "<script>alert(1)</script>", body="<b>bold</b>", url="/rooms/lobby/#message-3")
    notifications.notify(bob, "Bob's secret")

    response = alice_client.get("/notifications/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Bob&#x27;s secret" not in html and "Bob's secret" not in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert html.index("&lt;script&gt;") < html.index("Old one")
    assert re.search(r'class="notification notification--info is-unread" data-id="\d+"', html)
    assert re.search(rf'class="notification notification--info" data-id="{old.pk}"', html)
    assert '<a href="/rooms/lobby/#message-3">' in html
    # The bell: count, label, topic for notifications.js.
    assert 'aria-label="Notifications: 1 unread"' in html
    assert f'data-topic="{user_topic(alice)}"' in html
    assert 'aria-live="polite"' in html


def test_the_list_names_the_hub_and_its_position_in_the_page_and_in_the_header(alice, alice_client):
    notifications.notify(alice, "Before")
    position = hubbub.last_event_id()
    response = alice_client.get("/notifications/")
    html = response.content.decode()
    assert html.count('rel="mercure"') == 1
    assert f'<link rel="mercure" href="/.well-known/mercure" data-last-event-id="{position}">' in html
    assert f'data-last-event-id="{position}"' in html.split('id="notification-list"')[1]
    assert response["Link"] == f'<http://testserver/.well-known/mercure>; rel="mercure"; last-event-id="{position}"'


@pytest.mark.parametrize("path", ["/notifications/", "/rooms/"])
def test_the_bell_brings_its_stylesheet_and_script_once_per_page_for_signed_in_users_only(alice_client, path):
    link = '<link rel="stylesheet" href="/static/hubbub/notifications/notifications.css">'
    script = '<script type="module" src="/static/hubbub/notifications/notifications.js"></script>'
    html = alice_client.get(path).content.decode()
    assert html.count(link) == 1 and html.count(script) == 1
    # Before the bell, which they style and drive.
    assert html.index(link) < html.index('id="notification-bell"')
    anonymous = Client().get("/").content.decode()
    assert "notifications.css" not in anonymous and "notifications.js" not in anonymous
    assert 'id="notification-bell"' not in anonymous


def test_list_is_paginated(alice, alice_client):
    for i in range(PAGE_SIZE + 3):
        notifications.notify(alice, f"number {i}")
    first = alice_client.get("/notifications/").content.decode()
    second = alice_client.get("/notifications/?page=2").content.decode()
    assert first.count('class="notification notification--') == PAGE_SIZE
    assert f"number {PAGE_SIZE + 2}" in first and "number 0<" not in first
    assert second.count('class="notification notification--') == 3
    assert 'data-live="false"' in second


def test_bell_shows_99_plus(alice, alice_client):
    notifications.notify([alice] * 1, "x")
    Notification.objects.bulk_create([Notification(recipient=alice, title=str(i)) for i in range(120)])
    html = alice_client.get("/notifications/").content.decode()
    assert 'aria-label="Notifications: 121 unread"' in html
    assert re.search(r'id="notification-count"[^>]*>99\+</span>', html)


def test_mark_one_read_with_fetch_answers_json(alice, alice_client):
    notification = notifications.notify(alice, "Read me")
    notifications.notify(alice, "Still unread")
    response = alice_client.post(reverse("notifications:read", args=[notification.pk]), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json() == {"ids": [notification.pk], "unread": 1}
    assert Notification.objects.get(pk=notification.pk).read_at is not None
    assert published("notification.read")[-1][1]["ids"] == [notification.pk]


def test_mark_one_read_with_a_plain_form_redirects(alice, alice_client):
    notification = notifications.notify(alice, "Read me")
    response = alice_client.post(
        reverse("notifications:read", args=[notification.pk]), {"next": "/notifications/?page=1"}
    )
    assert (response.status_code, response["Location"]) == (302, "/notifications/?page=1")
    response = alice_client.post(
        reverse("notifications:read", args=[notification.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == "/notifications/"


def test_cannot_mark_another_users_notification(alice, bob, alice_client):
    theirs = notifications.notify(bob, "Bob's")
    response = alice_client.post(reverse("notifications:read", args=[theirs.pk]), HTTP_ACCEPT="application/json")
    assert response.status_code == 404
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_mark_all_read_up_to_what_the_page_showed(alice, alice_client):
    shown = [notifications.notify(alice, f"n{i}") for i in range(2)]
    later = notifications.notify(alice, "later")
    response = alice_client.post(
        reverse("notifications:read-all"), {"up_to": shown[-1].pk}, HTTP_ACCEPT="application/json"
    )
    assert response.json() == {"ids": [n.pk for n in shown], "unread": 1}
    assert list(Notification.objects.unread().values_list("pk", flat=True)) == [later.pk]
    response = alice_client.post(reverse("notifications:read-all"), {"up_to": "abc"})
    assert response.status_code == 400
    response = alice_client.post(reverse("notifications:read-all"))
    assert response.status_code == 302
    assert not Notification.objects.unread().exists()


@pytest.mark.parametrize("up_to", ["\u00b2", "\u0663", "9" * 5000, "9" * 19])
def test_mark_all_read_up_to_no_id_can_be_is_400_and_marks_nothing(alice, alice_client, up_to):
    notifications.notify(alice, "unread")
    response = alice_client.post(reverse("notifications:read-all"), {"up_to": up_to})
    assert response.status_code == 400 and response.content == b"up_to must be a notification id"
    assert Notification.objects.unread().count() == 1


def test_marking_read_needs_csrf_and_post(alice):
    notification = notifications.notify(alice, "x")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(reverse("notifications:read", args=[notification.pk])).status_code == 403
    assert client.get(reverse("notifications:read", args=[notification.pk])).status_code == 405
    assert Notification.objects.get(pk=notification.pk).read_at is None
