import pytest
from django.db import transaction

from chat.models import Message

from tests.published import published

pytestmark = pytest.mark.django_db


def test_deleting_a_message_tells_open_pages(alice, general, secret, django_capture_on_commit_callbacks):
    public = Message.objects.create(room=general, author=alice, text="oops")
    private = Message.objects.create(room=secret, author=alice, text="hush")
    public_id, private_id = public.pk, private.pk
    with django_capture_on_commit_callbacks(execute=True):
        public.delete()
        private.delete()
    assert published("chat.deleted") == [
        (["/chat/rooms/general"], {"id": public_id, "room": "general"}, True),
        (["/chat/rooms/secret"], {"id": private_id, "room": "secret"}, True),
    ]


def test_deleting_a_room_deletes_its_messages_quietly_enough(alice, secret, django_capture_on_commit_callbacks):
    Message.objects.create(room=secret, author=alice, text="x")
    with django_capture_on_commit_callbacks(execute=True):
        secret.delete()
    assert not Message.objects.exists()
    assert [data["room"] for _, data, _ in published("chat.deleted")] == ["secret"]


def room_data(room) -> dict:
    return {"slug": room.slug, "name": room.name, "url": room.get_absolute_url(), "private": True}


def test_joining_or_leaving_a_private_room_by_any_means_tells_that_member(
    alice, bob, secret, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        bob.chat_rooms.add(secret)  # from the user's side, as the shell or other code may do
        secret.members.remove(bob)
        secret.members.add(bob)
        secret.members.clear()
    bobs, alices = f"/chat/users/{bob.pk}", f"/chat/users/{alice.pk}"
    assert published("chat.room") == [([bobs], room_data(secret), True)] * 2
    removals = published("chat.room.removed")
    assert sorted(topics for topics, _, _ in removals) == sorted([[bobs], [alices], [bobs]])
    assert all(data == {"slug": "secret", "url": "/rooms/secret/"} and private for _, data, private in removals)


def test_public_room_membership_and_rolled_back_changes_announce_nothing(
    alice, bob, general, secret, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        general.members.add(bob)
        general.members.remove(bob)
        with pytest.raises(RuntimeError), transaction.atomic():
            secret.members.add(bob)
            raise RuntimeError("rolled back")
    assert published() == []
    assert not secret.members.filter(pk=bob.pk).exists()
