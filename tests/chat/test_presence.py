from datetime import timedelta

import pytest
from django.utils import timezone

from hubbub.contrib.chat import presence
from hubbub.contrib.chat.models import Presence
from tests.published import published

pytestmark = pytest.mark.django_db


def test_two_pages_of_one_user_count_once_until_both_close(alice, general, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert presence.update(general, alice, "tab-1", open=True) == ["alice"]
        assert presence.update(general, alice, "tab-2", open=True) == ["alice"]
        assert presence.update(general, alice, "tab-1", open=False) == ["alice"]
        assert presence.update(general, alice, "tab-2", open=False) == []
    lists = [(topics, data["users"], private) for topics, data, private in published("chat.presence")]
    assert lists == [(["/chat/rooms/general"], ["alice"], True), (["/chat/rooms/general"], [], True)]


def test_a_silent_page_is_dropped_by_the_next_check_in(
    alice, bob, general, settings, django_capture_on_commit_callbacks
):
    settings.CHAT_PRESENCE_TIMEOUT = 70
    with django_capture_on_commit_callbacks(execute=True):
        presence.update(general, alice, "a", open=True)
        presence.update(general, bob, "b", open=True)
        Presence.objects.filter(user=alice).update(last_seen=timezone.now() - timedelta(seconds=71))
        assert presence.present_users(general) == ["bob"]
        assert presence.update(general, bob, "b", open=True) == ["bob"]
    assert [data["users"] for _, data, _ in published("chat.presence")] == [["alice"], ["alice", "bob"], ["bob"]]
    times = [data["at"] for _, data, _ in published("chat.presence")]
    assert times == sorted(times)


def test_private_rooms_publish_presence_privately(alice, secret, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        presence.update(secret, alice, "a", open=True)
    [(_, _, private)] = published("chat.presence")
    assert private is True


def test_with_the_defaults_a_page_killed_without_a_goodbye_is_gone_within_40_s(
    alice, bob, general, django_capture_on_commit_callbacks
):
    # Pages check in every third of the timeout, so bob's next check-in comes at most 10 s after it.
    assert presence.heartbeat_ms() == 10_000
    with django_capture_on_commit_callbacks(execute=True):
        presence.update(general, alice, "a", open=True)
        presence.update(general, bob, "b", open=True)
        Presence.objects.filter(user=alice).update(last_seen=timezone.now() - timedelta(seconds=31))
        assert presence.update(general, bob, "b", open=True) == ["bob"]
    assert [data["users"] for _, data, _ in published("chat.presence")][-1] == ["bob"]


def test_the_room_page_tells_its_script_to_check_in_every_third_of_the_timeout(alice, general, settings):
    from tests.chat.conftest import client_for

    settings.CHAT_PRESENCE_TIMEOUT = 45
    page = client_for(alice).get("/rooms/general/").content.decode()
    assert 'data-presence-every-ms="15000"' in page
