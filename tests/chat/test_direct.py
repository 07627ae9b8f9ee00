import pytest

from hubbub.contrib.chat import direct
from hubbub.contrib.chat.authorization import room_topics
from hubbub.contrib.chat.models import Room
from tests.published import published

from .conftest import make_guest

pytestmark = pytest.mark.django_db


def test_a_conversation_is_a_private_room_of_exactly_its_people_found_again_from_either_side(alice, bob):
    carol = make_guest("carol")
    room, created = direct.start(alice, [bob])
    assert created and room.is_private and room.is_direct
    assert set(room.members.all()) == {alice, bob}
    assert direct.start(bob, [alice]) == (room, False)
    assert direct.start(alice, [bob, alice, bob]) == (room, False)  # repeated people count once
    group, created = direct.start(carol, [bob, alice])
    assert created and group != room and set(group.members.all()) == {alice, bob, carol}
    assert direct.start(bob, [carol, alice]) == (group, False)
    assert room.slug == direct.slug_for([bob, alice]) != group.slug
    assert room.slug.startswith("dm-") and len(room.slug) <= 60


def test_each_person_sees_the_conversation_named_after_the_others(alice, bob):
    carol = make_guest("Carol")
    room, _ = direct.start(alice, [bob, carol])
    assert room.title_for(alice) == "bob, Carol"
    assert room.title_for(bob) == "alice, Carol"
    assert room.title_for(carol.pk) == "alice, bob"


def test_nobody_else_and_too_many_people_are_refused(alice):
    with pytest.raises(ValueError, match="someone other than yourself"):
        direct.start(alice, [alice])
    with pytest.raises(ValueError, match=f"at most {direct.MAX_PEOPLE} people"):
        direct.start(alice, [make_guest(f"guest{n}") for n in range(direct.MAX_PEOPLE)])
    assert not Room.objects.filter(is_direct=True).exists()


def test_each_member_is_told_once_under_their_own_name_for_it(alice, bob, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        room, _ = direct.start(alice, [bob])
    with django_capture_on_commit_callbacks(execute=True):
        direct.start(bob, [alice])  # reused: nothing new to tell
    url = f"/rooms/{room.slug}/"
    expected = {
        f"/chat/users/{alice.pk}": {"slug": room.slug, "name": "bob", "url": url, "private": True, "direct": True},
        f"/chat/users/{bob.pk}": {"slug": room.slug, "name": "alice", "url": url, "private": True, "direct": True},
    }
    announced = published("chat.room")
    assert len(announced) == 2
    assert {topics[0]: data for topics, data, _ in announced} == expected
    assert all(private for _, _, private in announced)


def test_only_its_people_may_subscribe_to_it(alice, bob):
    carol = make_guest("carol")
    room, _ = direct.start(alice, [bob])
    topic = f"/chat/rooms/{room.slug}"
    assert list(room_topics(alice, [topic])) == [topic]
    assert topic in room_topics(bob, ["/chat/rooms/{slug}"])
    assert list(room_topics(carol, [topic])) == []
    assert topic not in room_topics(carol, ["*"])
