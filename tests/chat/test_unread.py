import pytest

from hubbub.contrib.chat import editing, posting, ratelimit, unread
from hubbub.contrib.chat.models import ReadMarker, Room
from tests.published import published

from .conftest import make_guest

pytestmark = pytest.mark.django_db


def test_a_room_never_viewed_has_no_state(alice, bob, general):
    posting.post(general, bob, "hello")
    assert unread.states(alice, [general]) == {} and unread.last_read(alice, general) is None


def test_unread_counts_others_messages_after_the_marker_without_deleted_ones(
    alice, bob, general, django_capture_on_commit_callbacks
):
    first = posting.post(general, bob, "seen")
    with django_capture_on_commit_callbacks(execute=True):
        state = unread.mark_read(alice, general, first.pk)
    assert (state["last_read"], state["unread"], state["newest"]) == (first.pk, 0, first.pk)
    posting.post(general, alice, "mine: never unread")
    later = [posting.post(general, bob, f"new {n}") for n in range(3)]
    editing.delete(later[0], bob)
    other = Room.objects.create(slug="other", name="Other")
    posting.post(other, bob, "elsewhere")
    unread.mark_read(alice, other, 0)
    states = unread.states(alice, [general, other])
    assert states[general.pk]["unread"] == 2 and states[general.pk]["newest"] == later[-1].pk
    assert states[other.pk]["unread"] == 1 and states[other.pk]["last_read"] == 0


def test_marking_read_moves_forward_only_and_tells_the_users_own_pages(
    alice, bob, general, django_capture_on_commit_callbacks
):
    messages = [posting.post(general, bob, f"m{n}") for n in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        unread.mark_read(alice, general, messages[1].pk)
        unread.mark_read(alice, general, messages[0].pk)  # back: nothing moves, nothing is sent
        unread.mark_read(alice, general, 10**12)  # beyond the newest message: up to it
    assert ReadMarker.objects.get(user=alice, room=general).last_read == messages[2].pk
    events = published("chat.read")
    assert [topics for topics, _, _ in events] == [[f"/chat/users/{alice.pk}"]] * 2
    assert [(data["room"], data["last_read"], data["unread"]) for _, data, _ in events] == [
        ("general", messages[1].pk, 1),
        ("general", messages[2].pk, 0),
    ]
    assert all(private for _, _, private in events) and events[0][1]["at"] <= events[1][1]["at"]


def test_marking_read_is_rate_limited_per_user_and_room(alice, bob, general, settings):
    settings.CHAT_READ_RATE_LIMIT = (2, 60)
    messages = [posting.post(general, bob, f"m{n}") for n in range(4)]
    unread.mark_read(alice, general, messages[0].pk)
    unread.mark_read(alice, general, messages[1].pk)
    unread.mark_read(alice, general, messages[1].pk)  # not moving: not counted
    with pytest.raises(ratelimit.Exceeded):
        unread.mark_read(alice, general, messages[2].pk)
    assert unread.last_read(alice, general) == messages[1].pk
    unread.mark_read(make_guest("carol"), general, messages[2].pk)
