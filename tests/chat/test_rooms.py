import pytest

from hubbub.contrib.chat import rooms

pytestmark = pytest.mark.django_db


def test_rooms_get_unique_slugs_and_their_creator_as_member(alice):
    first = rooms.create("Tea & Cake", alice, private=True)
    second = rooms.create("tea cake", alice)
    assert (first.slug, first.is_private, list(first.members.all())) == ("tea-cake", True, [alice])
    assert second.slug == "tea-cake-2"
