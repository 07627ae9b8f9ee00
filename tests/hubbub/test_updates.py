import pytest

import hubbub
from hubbub._updates import Update, check_event_id
from hubbub.exceptions import InvalidUpdate, UpdateTooLarge


def test_create_generates_urn_uuid_id():
    update = Update.create("https://example.com/books/1", "x")
    assert update.id.startswith("urn:uuid:")
    assert update.topics == ("https://example.com/books/1",)


def test_encode_splits_multiline_data_and_sends_type_and_retry():
    update = Update.create(["a", "b"], "line 1\nline 2\r\nline 3\r\n\nend", type="greet", id="abc", retry="5000")
    assert update.encode() == (
        b"id: abc\nevent: greet\nretry: 5000\ndata: line 1\ndata: line 2\ndata: line 3\ndata: \ndata: end\n\n"
    )


def test_encode_without_optional_fields():
    assert Update.create("t", "", id="i").encode() == b"id: i\ndata: \n\n"


@pytest.mark.parametrize("bad_id", ["#fragment", "a\nb", "a\rb", "a\x00b"])
def test_ids_breaking_the_protocol_are_rejected(bad_id):
    with pytest.raises(InvalidUpdate):
        Update.create("t", id=bad_id)


def test_earliest_is_refused_as_an_update_id():
    """Resuming after "earliest" means "from the start of the history": an update with that
    id could never be resumed after, and would be taken for the start by every client."""
    with pytest.raises(InvalidUpdate, match="reserved"):
        Update.create("t", id="earliest")
    with pytest.raises(InvalidUpdate, match="reserved"):
        hubbub.publish("t", id="earliest")
    assert Update.create("t", id="Earliest").id == "Earliest"  # only the exact word is reserved
    assert check_event_id("earliest") == "earliest"  # still what a subscriber may resume after


def test_type_with_line_break_is_rejected():
    with pytest.raises(InvalidUpdate, match="type"):
        Update.create("t", type="a\nb")


@pytest.mark.parametrize("retry", ["-1", "1.5", "ten", "١٢"])
def test_retry_must_be_ascii_digits(retry):
    with pytest.raises(InvalidUpdate, match="retry"):
        Update.create("t", retry=retry)


def test_topics_are_required_and_non_empty():
    with pytest.raises(InvalidUpdate):
        Update.create([])
    with pytest.raises(InvalidUpdate):
        Update.create([""])


def test_limits(settings):
    settings.HUBBUB_MAX_DATA_BYTES = 10
    settings.HUBBUB_MAX_TOPICS = 2
    settings.HUBBUB_MAX_TOPIC_LENGTH = 5
    settings.HUBBUB_MAX_ID_LENGTH = 4
    with pytest.raises(UpdateTooLarge, match="data"):
        Update.create("t", "é" * 6)
    with pytest.raises(UpdateTooLarge, match="topics"):
        Update.create(["a", "b", "c"])
    with pytest.raises(UpdateTooLarge, match="topic"):
        Update.create("abcdef")
    with pytest.raises(UpdateTooLarge, match="id"):
        check_event_id("abcde")


def test_message_round_trip():
    update = Update.create(["a", "b"], "d", private=True, type="t", id="i", retry=3)
    assert Update.from_message(update.as_message()) == update


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"topics": "/a\x00"}, InvalidUpdate),
        ({"data": "a\x00b"}, InvalidUpdate),
        ({"type": "a\x00"}, InvalidUpdate),
        ({"type": "t" * 256}, UpdateTooLarge),
        ({"retry": 2**31}, InvalidUpdate),
    ],
)
def test_what_the_history_cannot_store_is_rejected(fields, error):
    """NUL characters, and a type or retry beyond the history's columns, would otherwise fail
    the whole batch of concurrent publishes on PostgreSQL."""
    with pytest.raises(error):
        Update.create(**{"topics": "/a", **fields})


def test_the_largest_type_and_retry_are_accepted():
    update = Update.create("/a", type="t" * 255, retry=2**31 - 1)
    assert (len(update.type), update.retry) == (255, 2**31 - 1)
