import pytest
from django.db import transaction

from hubbub.contrib.chat import posting
from hubbub.contrib.chat.models import Message
from hubbub.contrib.chat.signals import message_posted
from hubbub.models import StoredUpdate
from tests.published import published

pytestmark = pytest.mark.django_db


@pytest.fixture
def received():
    calls = []

    def receiver(sender, message, **kwargs):
        # The message is committed and already handed to the hub when the signal comes.
        calls.append((sender, message, StoredUpdate.objects.filter(type="chat.message").count()))

    message_posted.connect(receiver)
    yield calls
    message_posted.disconnect(receiver)


def test_the_signal_comes_after_commit_and_after_the_hub_update(
    alice, general, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = posting.post(general, alice, "hi @bob")
        assert received == [] and not StoredUpdate.objects.exists()
    assert len(callbacks) == 2
    assert received == [(Message, message, 1)]


def test_a_rolled_back_post_publishes_nothing_and_signals_nothing(
    alice, general, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                posting.post(general, alice, "never")
                raise RuntimeError
    assert received == [] and published() == [] and not Message.objects.exists()


def test_a_failing_receiver_does_not_fail_the_post(alice, general, django_capture_on_commit_callbacks):
    def broken(sender, message, **kwargs):
        raise ValueError("boom")

    message_posted.connect(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            message = posting.post(general, alice, "still posted")
    finally:
        message_posted.disconnect(broken)
    assert Message.objects.get() == message and len(published("chat.message")) == 1


def test_check_refuses_in_words_with_a_status(alice, bob, secret, settings):
    settings.CHAT_MAX_MESSAGE_LENGTH = 5
    with pytest.raises(posting.PostRefused) as refused:
        posting.check(secret, bob, "hello")
    assert refused.value.status == 403
    for text, status in [("  ", 400), ("toolong", 413)]:
        with pytest.raises(posting.PostRefused) as refused:
            posting.check(secret, alice, text)
        assert refused.value.status == status and refused.value.reason
    assert posting.check(secret, alice, " fine ") == "fine"


def test_check_refuses_a_nul_character_which_postgresql_cannot_store(alice, general):
    with pytest.raises(posting.PostRefused) as refused:
        posting.check(general, alice, "a\x00b")
    assert refused.value.status == 400 and "NUL character" in refused.value.reason


def test_check_is_503_when_the_rate_limits_cannot_be_counted(alice, general, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    with pytest.raises(posting.PostRefused) as refused:
        posting.check(general, alice, "hello")
    assert refused.value.status == 503 and refused.value.retry_after is None
    assert refused.value.reason.startswith("Your message was not sent: the server cannot check its rate limits now")


def test_an_archived_room_refuses_posts_in_words(alice, general):
    general.archived = True
    general.save()
    with pytest.raises(posting.PostRefused) as refused:
        posting.post(general, alice, "anyone?")
    assert refused.value.status == 403 and "archived" in refused.value.reason
    assert not Message.objects.exists() and published("chat.message") == []
