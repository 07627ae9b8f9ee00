import pytest

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
