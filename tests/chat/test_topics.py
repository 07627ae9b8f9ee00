import pytest

from hubbub.contrib.chat.topics import room_topic, slug_from_topic, user_topic


def test_room_topics_round_trip():
    assert room_topic("general") == "/chat/rooms/general"
    assert slug_from_topic("/chat/rooms/general") == "general"
    assert slug_from_topic("/chat/rooms/") is None
    assert slug_from_topic("/chat/rooms/a/b") is None
    assert slug_from_topic("/notifications/alice") is None
    assert slug_from_topic("/chat/users/1") is None


def test_a_users_chat_topic_is_named_by_their_pk(alice):
    assert user_topic(alice) == user_topic(alice.pk) == f"/chat/users/{alice.pk}"
    with pytest.raises(ValueError):
        user_topic(None)
