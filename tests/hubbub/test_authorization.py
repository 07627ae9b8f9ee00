import asyncio
from contextlib import AsyncExitStack

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import transaction

import hubbub
from hubbub import _authorization as authorization, _fanout as fanout
from hubbub.exceptions import LayerUnavailable
from hubbub.testing import subscribe, subscriber_token
from tests.hubbub.asgi import publish

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


def test_user_key_is_the_primary_key_as_text():
    assert authorization.user_key(User(pk=7)) == "7"
    assert authorization.user_key(7) == "7"
    with pytest.raises(ValueError):
        authorization.user_key(User())


async def test_reauthorize_closes_the_users_session_streams_and_the_reconnect_gets_the_new_grants():
    alice = await sync_to_async(User.objects.create_user)("alice")
    bob = await sync_to_async(User.objects.create_user)("bob")
    GRANTS[alice.pk] = GRANTS[bob.pk] = ["/secret"]
    async with AsyncExitStack() as streams:
        alices = await streams.enter_async_context(subscribe("/secret", user=alice))
        bobs = await streams.enter_async_context(subscribe("/secret", user=bob))
        by_token = await streams.enter_async_context(
            subscribe("/secret", user=alice, token=subscriber_token("/secret"))
        )
        assert (await publish(topic="/secret", data="before", private="on"))[0] == 200
        for stream in (alices, bobs, by_token):
            assert (await stream.next()).data == "before"

        GRANTS[alice.pk] = []
        await hubbub.areauthorize(alice)
        for stream in (alices, by_token):  # by_token was opened with alice's session too
            with pytest.raises(EOFError):
                await stream.next()

        again = await streams.enter_async_context(subscribe("/secret", user=alice))
        assert (await publish(topic="/secret", data="after", private="on"))[0] == 200
        assert (await bobs.next()).data == "after"
        assert await again.silent(0.2)


async def test_reauthorize_reaches_streams_on_another_loop_from_sync_code_after_the_commit():
    alice = await sync_to_async(User.objects.create_user)("alice")
    GRANTS[alice.pk] = ["/secret"]
    async with subscribe("/secret", user=alice) as stream:
        hub = fanout.current()
        assert len(hub.by_user[str(alice.pk)]) == 1

        def revoke_in_a_transaction() -> bool:
            with transaction.atomic():
                GRANTS[alice.pk] = []
                hubbub.reauthorize(alice)
                still_open = not next(iter(hub.by_user[str(alice.pk)])).closed
            return still_open

        assert await sync_to_async(revoke_in_a_transaction)()  # nothing closed before the commit
        with pytest.raises(EOFError):
            await stream.next()
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
