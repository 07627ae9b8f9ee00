import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client

import hubbub
from hubbub import _authorization as authorization, _fanout as fanout
from hubbub.exceptions import LayerUnavailable
from tests.hubbub.asgi import publish, subscribe, subscriber_token

pytestmark = pytest.mark.django_db(transaction=True)

# What the test hook grants: user pk -> topics. Tests change it to take a grant away.
GRANTS: dict[int, list[str]] = {}


def grant(user: object, selectors: list[str]) -> list[str]:
    return GRANTS.get(user.pk, [])


@pytest.fixture(autouse=True)
def hook(settings):
    settings.HUBBUB_AUTHORIZERS = ["tests.hubbub.test_authorization.grant"]
    GRANTS.clear()
    yield
    GRANTS.clear()


def signed_in(username: str) -> tuple[User, str]:
    user = User.objects.create_user(username)
    client = Client()
    client.force_login(user)
    return user, f"sessionid={client.cookies['sessionid'].value}"


def test_user_key_is_the_primary_key_as_text():
    assert authorization.user_key(User(pk=7)) == "7"
    assert authorization.user_key(7) == "7"
    with pytest.raises(ValueError):
        authorization.user_key(User())


async def test_reauthorize_closes_the_users_session_streams_and_the_reconnect_gets_the_new_grants():
    alice, alice_cookie = await sync_to_async(signed_in)("alice")
    bob, bob_cookie = await sync_to_async(signed_in)("bob")
    GRANTS[alice.pk] = GRANTS[bob.pk] = ["/secret"]
    alices = await subscribe("/secret", headers={"cookie": alice_cookie})
    bobs = await subscribe("/secret", headers={"cookie": bob_cookie})
    by_token = await subscribe("/secret", headers={"authorization": f"Bearer {subscriber_token('/secret')}", "cookie": alice_cookie})
    assert (await publish(topic="/secret", data="before", private="on"))[0] == 200
    for stream in (alices, bobs, by_token):
        assert [e["data"] for e in await stream.read_events(1)] == ["before"]

    GRANTS[alice.pk] = []
    await hubbub.areauthorize(alice)
    assert await alices.read_events(1) == [] and alices.ended
    assert await by_token.read_events(1) == [] and by_token.ended  # opened with alice's session too

    again = await subscribe("/secret", headers={"cookie": alice_cookie})
    assert (await publish(topic="/secret", data="after", private="on"))[0] == 200
    assert [e["data"] for e in await bobs.read_events(1)] == ["after"]
    assert await again.nothing_more()
    for stream in (bobs, again):
        await stream.close()


async def test_reauthorize_reaches_streams_on_another_loop_from_sync_code_after_the_commit():
    alice, cookie = await sync_to_async(signed_in)("alice")
    GRANTS[alice.pk] = ["/secret"]
    stream = await subscribe("/secret", headers={"cookie": cookie})
    hub = fanout.current()
    assert len(hub.by_user[str(alice.pk)]) == 1

    def revoke_in_a_transaction() -> bool:
        with transaction.atomic():
            GRANTS[alice.pk] = []
            hubbub.reauthorize(alice)
            still_open = not next(iter(hub.by_user[str(alice.pk)])).closed
        return still_open

    assert await sync_to_async(revoke_in_a_transaction)()  # nothing closed before the commit
    assert await stream.read_events(1) == [] and stream.ended
    await asyncio.sleep(0.05)
    assert hub.by_user == {}


async def test_reauthorize_from_async_code_is_refused():
    with pytest.raises(RuntimeError, match="areauthorize"):
        hubbub.reauthorize(1)


async def test_reauthorize_with_the_channel_layer_down_raises_layer_unavailable(monkeypatch):
    layer = authorization.layers.channel_layer()

    async def broken(group, message):
        raise ConnectionError("redis went away")

    monkeypatch.setattr(layer, "group_send", broken)
    with pytest.raises(LayerUnavailable, match="redis went away"):
        await hubbub.areauthorize(1)
