import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, connection, transaction

from hubbub.contrib.chat.models import Message, Reaction, Room

from .conftest import make_guest

pytestmark = pytest.mark.django_db


def test_the_default_room_exists(general):
    assert (general.name, general.is_private, general.get_absolute_url()) == ("General", False, "/rooms/general/")


def test_readable_rooms(alice, bob, general, secret):
    assert set(Room.objects.readable_by(alice)) == {general, secret}
    assert set(Room.objects.readable_by(bob)) == {general}
    assert not Room.objects.readable_by(AnonymousUser()).exists()
    assert secret.is_readable_by(alice) and not secret.is_readable_by(bob)
    assert general.is_readable_by(bob) and not general.is_readable_by(AnonymousUser())


def test_messages_keep_id_order_and_link_to_themselves(alice, general):
    first = Message.objects.create(room=general, author=alice, text="1")
    second = Message.objects.create(room=general, author=alice, text="2")
    assert list(general.messages.all()) == [first, second]
    assert second.get_absolute_url() == f"/rooms/general/#message-{second.pk}"


def test_the_history_query_has_its_index():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Message._meta.db_table)
    assert constraints["hubbub_chat_message_history"]["columns"] == ["room_id", "id"]


def test_a_rooms_member_names_are_sorted_ignoring_case(alice, secret):
    secret.members.add(make_guest("Zed"), make_guest("bob"), make_guest("Bob"))
    assert secret.member_names() == ["alice", "Bob", "bob", "Zed"]


def test_a_room_is_managed_by_its_owner_and_staff_only(alice, bob, secret):
    staff = make_guest("root")
    staff.is_staff = True
    assert secret.is_managed_by(alice) and secret.is_managed_by(staff)
    assert not secret.is_managed_by(bob) and not secret.is_managed_by(AnonymousUser())


def test_reaction_summaries_list_each_chosen_emoji_in_order_with_sorted_names_in_one_query(
    alice, bob, general, django_assert_num_queries
):
    first = Message.objects.create(room=general, author=alice, text="one")
    second = Message.objects.create(room=general, author=alice, text="two")
    for user, emoji in [(bob, "🎉"), (alice, "👍"), (bob, "👍")]:
        Reaction.objects.create(message=first, user=user, emoji=emoji)
    with django_assert_num_queries(1):
        summaries = Reaction.objects.summaries([first.pk, second.pk])
    assert summaries == {
        first.pk: [
            {"emoji": "👍", "count": 2, "users": ["alice", "bob"]},
            {"emoji": "🎉", "count": 1, "users": ["bob"]},
        ],
        second.pk: [],
    }


def test_a_reaction_is_stored_once_per_message_user_and_emoji(alice, general):
    message = Message.objects.create(room=general, author=alice, text="one")
    Reaction.objects.create(message=message, user=alice, emoji="👍")
    with pytest.raises(IntegrityError), transaction.atomic():
        Reaction.objects.create(message=message, user=alice, emoji="👍")
    Reaction.objects.create(message=message, user=alice, emoji="❤️")
    assert Reaction.objects.count() == 2
