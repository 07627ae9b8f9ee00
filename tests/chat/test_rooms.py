import pytest

from hubbub.contrib.chat import rooms
from hubbub.contrib.chat.models import Room
from tests.published import published

from .conftest import make_guest

pytestmark = pytest.mark.django_db


def test_rooms_get_unique_slugs_and_their_creator_as_member(alice):
    first = rooms.create("Tea & Cake", alice, private=True)
    second = rooms.create("tea cake", alice)
    assert (first.slug, first.is_private, list(first.members.all())) == ("tea-cake", True, [alice])
    assert second.slug == "tea-cake-2"


# The owner's changes, as stored and as published.


def test_renaming_keeps_the_slug_and_tells_the_rooms_pages_and_the_directory(
    alice, general, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert rooms.update(general, name="Town Square", topic="Anything goes")
    general.refresh_from_db()
    assert (general.slug, general.name, general.topic) == ("general", "Town Square", "Anything goes")
    assert published("chat.room.changed") == [
        (
            ["/chat/rooms/general", "/chat/rooms"],
            {
                "slug": "general",
                "name": "Town Square",
                "url": "/rooms/general/",
                "private": False,
                "direct": False,
                "topic": "Anything goes",
                "archived": False,
            },
            True,
        )
    ]
    with django_capture_on_commit_callbacks(execute=True):
        assert not rooms.update(general, name="Town Square", topic="Anything goes")  # no change: nothing published
    assert len(published("chat.room.changed")) == 1


def test_a_private_rooms_change_goes_to_its_pages_and_its_members_topics_only(
    alice, bob, secret, django_capture_on_commit_callbacks
):
    make_guest("carol")
    secret.members.add(bob)
    with django_capture_on_commit_callbacks(execute=True):
        rooms.set_archived(secret, True)
    [(topics, data, private)] = published("chat.room.changed")
    assert sorted(topics) == sorted(["/chat/rooms/secret", f"/chat/users/{alice.pk}", f"/chat/users/{bob.pk}"])
    assert data["archived"] is True and private
    assert Room.objects.get(pk=secret.pk).archived
    assert not rooms.set_archived(secret, True)
    assert rooms.set_archived(secret, False) and not Room.objects.get(pk=secret.pk).archived


def test_deleting_tells_the_pages_and_lists_first_and_reauthorizes_a_private_rooms_members(
    alice, bob, secret, monkeypatch, django_capture_on_commit_callbacks
):
    import hubbub

    secret.members.add(bob)
    reauthorized = []
    monkeypatch.setattr(hubbub, "reauthorize", lambda user, **kwargs: reauthorized.append(user))
    with django_capture_on_commit_callbacks(execute=True):
        rooms.delete(secret)
    assert not Room.objects.filter(slug="secret").exists()
    [(topics, data, private)] = published("chat.room.deleted")
    assert sorted(topics) == sorted(["/chat/rooms/secret", f"/chat/users/{alice.pk}", f"/chat/users/{bob.pk}"])
    assert data == {"slug": "secret", "url": "/rooms/secret/"} and private
    assert sorted(reauthorized) == sorted([alice.pk, bob.pk])


def test_deleting_a_public_room_tells_the_directory(general, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        rooms.delete(general)
    assert [topics for topics, _, _ in published("chat.room.deleted")] == [["/chat/rooms/general", "/chat/rooms"]]
