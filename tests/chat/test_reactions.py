import pytest

from hubbub.contrib.chat import editing, posting, reactions
from hubbub.contrib.chat.models import Reaction
from tests.published import published

from .conftest import make_guest

pytestmark = pytest.mark.django_db


def test_a_toggle_adds_then_removes_and_publishes_the_whole_set_after_commit(
    alice, bob, general, django_capture_on_commit_callbacks
):
    message = posting.post(general, alice, "ship it?")
    with django_capture_on_commit_callbacks(execute=True):
        assert reactions.toggle(message, bob, "🎉") is True
        assert published("chat.message.reactions") == []
    for user, emoji, added in [(alice, "🎉", True), (alice, "👍", True), (bob, "🎉", False)]:
        with django_capture_on_commit_callbacks(execute=True):
            assert reactions.toggle(message, user, emoji) is added
    assert sorted(Reaction.objects.values_list("user__username", "emoji")) == [("alice", "🎉"), ("alice", "👍")]
    events = published("chat.message.reactions")
    assert [data["reactions"] for _, data, _ in events] == [
        [{"emoji": "🎉", "count": 1, "users": ["bob"]}],
        [{"emoji": "🎉", "count": 2, "users": ["alice", "bob"]}],
        [{"emoji": "👍", "count": 1, "users": ["alice"]}, {"emoji": "🎉", "count": 2, "users": ["alice", "bob"]}],
        [{"emoji": "👍", "count": 1, "users": ["alice"]}, {"emoji": "🎉", "count": 1, "users": ["alice"]}],
    ]
    topics, data, private = events[0]
    assert topics == ["/chat/rooms/general"] and private and (data["id"], data["room"]) == (message.pk, "general")
    times = [data["at"] for _, data, _ in events]
    assert times == sorted(times)


@pytest.mark.parametrize("emoji", ["", "👎", "<b>", "👍👍"])
def test_only_the_fixed_emoji_are_taken(alice, general, emoji):
    message = posting.post(general, alice, "hi")
    with pytest.raises(posting.PostRefused) as refused:
        reactions.toggle(message, alice, emoji)
    assert refused.value.status == 400 and "👍 ❤️ 😂 🎉 😮 😢" in refused.value.reason
    assert not Reaction.objects.exists()


def test_nobody_reacts_in_an_archived_room_or_a_private_room_they_cannot_read(alice, bob, general, secret):
    hidden = posting.post(secret, alice, "members only")
    with pytest.raises(posting.PostRefused) as refused:
        reactions.toggle(hidden, bob, "👍")
    assert refused.value.status == 403 and "private room" in refused.value.reason
    message = posting.post(general, alice, "old news")
    general.archived = True
    general.save()
    with pytest.raises(posting.PostRefused) as refused:
        reactions.toggle(message, alice, "👍")
    assert refused.value.status == 403 and "archived" in refused.value.reason
    assert not Reaction.objects.exists()


def test_reactions_are_rate_limited_apart_from_posts(alice, general, settings):
    settings.CHAT_RATE_LIMIT = (2, 60)
    message = posting.post(general, alice, "one")
    posting.post(general, alice, "two")
    reactions.toggle(message, alice, "👍")
    reactions.toggle(message, alice, "👍")
    with pytest.raises(posting.PostRefused) as refused:
        reactions.toggle(message, alice, "👍")
    assert refused.value.status == 429 and refused.value.reason.startswith("You are reacting too fast.")
    assert not Reaction.objects.exists()


def test_a_deleted_message_keeps_its_reactions_for_moderators(alice, general):
    message = posting.post(general, alice, "gone")
    reactions.toggle(message, make_guest("carol"), "😢")
    editing.delete(message, alice)
    assert Reaction.objects.filter(message=message).count() == 1
