import pytest

from hubbub.contrib.chat import editing, posting
from hubbub.contrib.chat.models import Message
from hubbub.contrib.chat.signals import message_edited
from tests.published import published

from .conftest import make_guest

pytestmark = pytest.mark.django_db


@pytest.fixture
def edits():
    calls = []

    def receiver(sender, message, earlier_texts, **kwargs):
        calls.append((message.text, earlier_texts))

    message_edited.connect(receiver)
    yield calls
    message_edited.disconnect(receiver)


def test_an_edit_keeps_every_earlier_text_publishes_the_message_and_signals_after_commit(
    alice, general, edits, django_capture_on_commit_callbacks
):
    message = posting.post(general, alice, "first")
    with django_capture_on_commit_callbacks(execute=True):
        editing.edit(message, alice, "second")
        assert edits == []
        edited = editing.edit(message, alice, " **third** \r\n")
    stored = Message.objects.get()
    assert stored.text == "**third**" and stored.edited == edited.edited is not None
    assert list(stored.revisions.values_list("text", flat=True)) == ["first", "second"]
    assert edits == [("second", ["first"]), ("**third**", ["first", "second"])]
    events = published("chat.message.edited")
    assert [data["text"] for _, data, _ in events] == ["second", "**third**"]
    topics, data, private = events[-1]
    assert topics == ["/chat/rooms/general"] and private
    assert data["html"] == "<p><strong>third</strong></p>" and data["edited"] == stored.edited.isoformat()
    assert data["id"] == message.pk and data["created"] == message.created.isoformat()


def test_an_edit_that_changes_nothing_stores_publishes_and_counts_nothing(
    alice, general, edits, settings, django_capture_on_commit_callbacks
):
    settings.CHAT_RATE_LIMIT = (1, 60)
    message = posting.post(general, alice, "same")
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            editing.edit(message, alice, "  same\n")
    assert not message.revisions.exists() and Message.objects.get().edited is None
    assert published("chat.message.edited") == [] and edits == []


@pytest.mark.parametrize(
    ("text", "status", "reason"),
    [("   ", 400, "Write a message first"), ("a\x00b", 400, "NUL character"), ("x" * 11, 413, "the limit is 10")],
)
def test_an_edit_to_text_that_could_not_be_posted_is_refused_alike(alice, general, settings, text, status, reason):
    settings.CHAT_MAX_MESSAGE_LENGTH = 10
    message = posting.post(general, alice, "fine")
    with pytest.raises(posting.PostRefused) as refused:
        editing.edit(message, alice, text)
    assert refused.value.status == status and reason in refused.value.reason
    assert Message.objects.get().text == "fine" and not message.revisions.exists()


def test_only_the_author_edits_not_even_the_owner_or_staff(alice, bob, general):
    message = posting.post(general, bob, "mine")
    general.created_by = alice
    general.save()
    staff = make_guest("staff")
    staff.is_staff = True
    staff.save()
    for user in (alice, staff):
        with pytest.raises(posting.PostRefused) as refused:
            editing.edit(message, user, "theirs")
        assert refused.value.status == 403 and refused.value.reason == "Only its author can edit a message."
    assert Message.objects.get().text == "mine"


def test_an_archived_room_refuses_edits_and_its_authors_deletions_but_not_its_owners(alice, bob, general):
    message = posting.post(general, bob, "frozen")
    general.archived, general.created_by = True, alice
    general.save()
    with pytest.raises(posting.PostRefused) as refused:
        editing.edit(message, bob, "thawed")
    assert refused.value.status == 403 and "archived" in refused.value.reason
    with pytest.raises(posting.PostRefused) as refused:
        editing.delete(message, bob)
    assert refused.value.status == 403 and "archived" in refused.value.reason
    editing.delete(message, alice)
    assert Message.objects.get().deleted_by == alice


def test_a_member_who_left_a_private_room_can_neither_edit_nor_delete_there(alice, bob, secret):
    secret.members.add(bob)
    message = posting.post(secret, bob, "before I go")
    secret.members.remove(bob)
    for change in (lambda: editing.edit(message, bob, "after"), lambda: editing.delete(message, bob)):
        with pytest.raises(posting.PostRefused) as refused:
            change()
        assert refused.value.status == 403 and "private room" in refused.value.reason
    assert Message.objects.get().deleted_at is None


def test_a_deletion_is_soft_and_published_and_the_message_leaves_the_visible_ones(
    alice, general, django_capture_on_commit_callbacks
):
    message = posting.post(general, alice, "oops")
    with django_capture_on_commit_callbacks(execute=True):
        editing.delete(message, alice)
    stored = Message.objects.get()
    assert stored.text == "oops" and stored.deleted_by == alice and stored.deleted_at is not None
    assert not Message.objects.visible().exists()
    assert published("chat.message.deleted") == [(["/chat/rooms/general"], {"id": message.pk, "room": "general"}, True)]
    with pytest.raises(posting.PostRefused) as refused:
        editing.delete(message, alice)
    assert refused.value.status == 404
    with pytest.raises(posting.PostRefused) as refused:
        editing.edit(message, alice, "undo")
    assert refused.value.status == 404 and Message.objects.get().text == "oops"
    assert len(published("chat.message.deleted")) == 1


def test_moderators_delete_others_messages_and_nobody_else_does(alice, bob, general):
    carol = make_guest("carol")
    general.created_by = alice
    general.save()
    message = posting.post(general, bob, "spam")
    with pytest.raises(posting.PostRefused) as refused:
        editing.delete(message, carol)
    assert refused.value.status == 403 and refused.value.reason == (
        "Only its author, the room's owner or staff can delete a message."
    )
    editing.delete(message, alice)
    staff = make_guest("staff")
    staff.is_staff = True
    staff.save()
    other = posting.post(general, bob, "more spam")
    editing.delete(other, staff)
    assert list(Message.objects.values_list("deleted_by__username", flat=True)) == ["alice", "staff"]


def test_edits_count_with_posts_and_deletions_apart(alice, general, settings):
    settings.CHAT_RATE_LIMIT = (2, 60)
    first = posting.post(general, alice, "one")
    editing.edit(first, alice, "one, edited")
    with pytest.raises(posting.PostRefused) as refused:
        editing.edit(first, alice, "one, again")
    assert refused.value.status == 429 and refused.value.retry_after and "too fast" in refused.value.reason
    editing.delete(first, alice)
    assert Message.objects.get().text == "one, edited"
