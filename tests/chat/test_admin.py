import pytest
from django.contrib.auth import get_user_model

from hubbub.contrib.chat import editing, posting
from hubbub.contrib.chat.models import Message
from tests.published import published

from .conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderator(db):
    return get_user_model().objects.create_superuser("mod", password="mod-password-123")


def test_a_moderator_deletes_messages_and_open_pages_are_told(
    moderator, alice, general, django_capture_on_commit_callbacks
):
    messages = [Message.objects.create(room=general, author=alice, text=f"spam {n}") for n in range(2)]
    client = client_for(moderator)
    assert client.get("/admin/hubbub_chat/message/").status_code == 200
    assert client.get("/admin/hubbub_chat/room/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/hubbub_chat/message/",
            {"action": "delete_selected", "_selected_action": [m.pk for m in messages], "post": "yes"},
        )
    assert response.status_code == 302 and not Message.objects.exists()
    assert sorted(data["id"] for _, data, _ in published("chat.deleted")) == [m.pk for m in messages]


def test_a_moderator_adds_and_removes_members_and_their_pages_are_told(
    moderator, alice, bob, secret, django_capture_on_commit_callbacks
):
    client = client_for(moderator)
    fields = {"slug": "secret", "name": "Secret", "is_private": "on", "created_by": alice.pk}
    fields |= {"created_0": secret.created.strftime("%Y-%m-%d"), "created_1": secret.created.strftime("%H:%M:%S")}
    with django_capture_on_commit_callbacks(execute=True):
        added = client.post(f"/admin/hubbub_chat/room/{secret.pk}/change/", {**fields, "members": [alice.pk, bob.pk]})
        removed = client.post(f"/admin/hubbub_chat/room/{secret.pk}/change/", {**fields, "members": [bob.pk]})
    assert added.status_code == removed.status_code == 302
    assert list(secret.members.all()) == [bob]
    assert [topics for topics, _, _ in published("chat.room")] == [[f"/chat/users/{bob.pk}"]]
    assert published("chat.room.removed") == [
        ([f"/chat/users/{alice.pk}"], {"slug": "secret", "url": "/rooms/secret/"}, True)
    ]


def test_a_message_deleted_in_the_chat_stays_in_the_admin_with_its_earlier_texts(moderator, alice, general):
    message = posting.post(general, alice, "first draft")
    editing.edit(message, alice, "second draft")
    editing.delete(message, alice)
    client = client_for(moderator)
    listing = client.get("/admin/hubbub_chat/message/?deleted_at__isempty=0").content.decode()
    assert "second draft" in listing
    page = client.get(f"/admin/hubbub_chat/message/{message.pk}/change/").content.decode()
    assert "first draft" in page and "second draft" in page
