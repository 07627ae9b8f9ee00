import pytest

from hubbub.contrib.chat.models import Room
from hubbub.contrib.chat.signals import member_added

from .conftest import client_for, make_guest

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent():
    calls = []

    def receiver(sender, **kwargs):
        calls.append((sender, kwargs))

    member_added.connect(receiver)
    yield calls
    member_added.disconnect(receiver)


def test_adding_a_member_with_the_form_sends_member_added_after_the_commit(
    alice, bob, secret, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        client_for(alice).post("/rooms/secret/members/", {"username": "bob"})
    assert sent == []  # nothing before the membership is committed
    for callback in callbacks:
        callback()
    [(sender, kwargs)] = sent
    assert sender is Room
    assert kwargs["room"] == secret and kwargs["user"] == bob and kwargs["by"] == alice
    assert kwargs["signal"] is member_added


def test_member_added_is_not_sent_when_nobody_was_added(
    alice, bob, general, secret, sent, django_capture_on_commit_callbacks
):
    secret.members.add(bob)
    with django_capture_on_commit_callbacks(execute=True):
        client_for(alice).post("/rooms/secret/members/", {"username": "bob"})  # already a member
        client_for(alice).post("/rooms/secret/members/", {"username": "nobody"})
        client_for(alice).post("/rooms/general/members/", {"username": "bob"})  # public: 400
        secret.members.add(make_guest("carol"))  # not through the form
    assert sent == []
