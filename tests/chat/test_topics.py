from chat.topics import room_topic, slug_from_topic


def test_room_topics_round_trip():
    assert room_topic("general") == "/chat/rooms/general"
    assert slug_from_topic("/chat/rooms/general") == "general"
    assert slug_from_topic("/chat/rooms/") is None
    assert slug_from_topic("/chat/rooms/a/b") is None
    assert slug_from_topic("/notifications/alice") is None
