import json

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from hubbub.contrib.chat import posting, rooms, unread
from hubbub.contrib.chat.models import Message
from tests.hubbub.asgi import subscribe
from tests.published import published

from .conftest import make_guest
from .test_authorization import session_cookie

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
    return {"slug": room.slug, "name": room.name, "url": room.get_absolute_url(), "private": True, "direct": False}


def test_joining_or_leaving_a_private_room_by_any_means_tells_that_member(
    alice, bob, secret, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        bob.hubbub_chat_rooms.add(secret)  # from the user's side, as the shell or other code may do
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


def members_lists(room="secret") -> list[list[str]]:
    updates = published("chat.members")
    assert all(
        topics == [f"/chat/rooms/{room}"] and private and data["room"] == room for topics, data, private in updates
    )
    assert [data["at"] for _, data, _ in updates] == sorted(data["at"] for _, data, _ in updates)
    return [data["members"] for _, data, _ in updates]


def test_a_private_rooms_pages_get_its_whole_member_list_after_each_change_by_any_means(
    alice, bob, secret, django_capture_on_commit_callbacks
):
    carol = make_guest("Carol")
    with django_capture_on_commit_callbacks() as callbacks:
        secret.members.add(bob, carol)
    assert published("chat.members") == []  # nothing before the change is committed
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()
    for change in (
        lambda: bob.hubbub_chat_rooms.remove(secret),  # from the user's side, as the shell or other code may do
        lambda: carol.hubbub_chat_rooms.clear(),
        lambda: secret.members.clear(),
    ):
        with django_capture_on_commit_callbacks(execute=True):  # one commit each
            change()
    assert members_lists() == [["alice", "bob", "Carol"], ["alice", "Carol"], ["alice"], []]


def test_the_member_list_is_read_after_the_commit_so_each_update_of_a_transaction_carries_its_outcome(
    alice, bob, secret, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        secret.members.add(bob)
        secret.members.remove(alice)
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()
    assert members_lists() == [["bob"], ["bob"]]


def test_public_rooms_have_no_member_list_to_publish(alice, bob, general, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        general.members.add(alice, bob)
        bob.hubbub_chat_rooms.clear()
    assert published("chat.members") == []


@pytest.mark.django_db(transaction=True)
async def test_a_removed_members_open_streams_close_and_reopen_without_the_room():
    alice, bob = [await sync_to_async(make_guest)(name) for name in ("alice", "bob")]
    room = await sync_to_async(rooms.create)("Secret", alice, private=True)
    await room.members.aadd(bob)
    topic, bobs_topic = f"/chat/rooms/{room.slug}", f"/chat/users/{bob.pk}"
    cookie = {"cookie": await sync_to_async(session_cookie)(bob)}
    bobs_page = await subscribe(topic, bobs_topic, headers=cookie)
    alices_page = await subscribe(topic, headers={"cookie": await sync_to_async(session_cookie)(alice)})

    await room.members.aremove(bob)
    told = await bobs_page.read_events(5)
    assert [event["event"] for event in told] == ["chat.room.removed"] and bobs_page.ended  # before the new list
    assert [event["event"] for event in await alices_page.read_events(1)] == ["chat.members"]

    reopened = await subscribe(topic, bobs_topic, headers=cookie, lastEventID="earliest")
    try:
        replayed = await reopened.read_events(2)
        assert [event["event"] for event in replayed] == ["chat.room", "chat.room.removed"]  # his own topic only
        await sync_to_async(posting.post)(room, alice, "after bob left")
        assert [json.loads(event["data"])["text"] for event in await alices_page.read_events(1)] == ["after bob left"]
        assert await reopened.nothing_more()
    finally:
        for stream in (alices_page, reopened):
            await stream.close()


def test_every_users_name_has_its_skeleton_kept_however_it_is_saved(db):
    from django.contrib.auth import get_user_model

    from hubbub.contrib.chat import lookalikes
    from hubbub.contrib.chat.models import NameSkeleton

    user = get_user_model().objects.create_user("\u0410\u0501\u0430")
    assert NameSkeleton.objects.get(user=user).skeleton == lookalikes.skeleton("Ada")
    user.username = "Oscar"
    user.save()
    assert NameSkeleton.objects.get(user=user).skeleton == lookalikes.skeleton("0scar")
    get_user_model().objects.filter(pk=user.pk).update(username="Eve")  # no signal: untouched
    user.refresh_from_db()
    user.save(update_fields=["last_login"])
    assert NameSkeleton.objects.get(user=user).skeleton == lookalikes.skeleton("Oscar")
    user.delete()
    assert not NameSkeleton.objects.exists()


def test_a_member_added_to_a_private_room_has_its_later_messages_counted_unread_from_either_side(alice, bob, secret):
    before = posting.post(secret, alice, "before bob")
    secret.members.add(bob)
    carol = make_guest("carol")
    carol.hubbub_chat_rooms.add(secret)
    for user in (bob, carol):
        assert unread.last_read(user, secret) == before.pk
    posting.post(secret, alice, "after")
    assert unread.state(bob, secret)["unread"] == 1
    unread.mark_read(bob, secret, before.pk + 1)
    secret.members.remove(bob)
    secret.members.add(bob)  # back: the place is kept
    assert unread.last_read(bob, secret) == before.pk + 1
