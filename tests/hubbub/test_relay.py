"""hubbub._relay: a process that serves nobody hands its updates to the server's endpoint,
with a token it mints for the purpose, of the kind the hub accepts."""

import asyncio

import jwt
import pytest

from hubbub import _relay as relay
from hubbub._updates import Update
from hubbub.testing import subscribe
from tests.hubbub.server import running


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "draft07, audience",
    [(True, None), (False, None), (False, "https://hub.example.com/.well-known/mercure")],
)
async def test_the_relay_publishes_through_the_server(settings, draft07, audience):
    settings.HUBBUB_MERCURE_DRAFT07 = draft07
    settings.HUBBUB_TOKEN_AUDIENCE = audience
    async with running() as server:
        settings.HUBBUB_RELAY_URL = f"http://127.0.0.1:{server.port}/.well-known/mercure"
        async with subscribe("/relayed", draft=8) as page:
            await relay.arelay(Update.create("/relayed", "async", private=True))
            await asyncio.to_thread(relay.relay, Update.create("/relayed", "sync", type="note"))
            assert [event.data for event in await page.take(1)] == ["sync"]  # the private one is not for it
            assert await page.silent(0.2)


def test_the_relay_token_grants_the_updates_topics_only(settings):
    settings.HUBBUB_RELAY_URL = "http://127.0.0.1:8000/.well-known/mercure"
    url, headers, form = relay._request(Update.create(["/a", "/b"], "x"))
    token = headers["Authorization"].removeprefix("Bearer ")
    payload = jwt.decode(token, settings.HUBBUB_PUBLISHER_JWT_KEY, algorithms=["HS256"])
    assert payload["mercure"] == {"publish": ["/a", "/b"]} and payload["exp"]
    settings.HUBBUB_MERCURE_DRAFT07 = False
    url, headers, form = relay._request(Update.create(["/a", "/b"], "x"))
    token = headers["Authorization"].removeprefix("Bearer ")
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    payload = jwt.decode(token, settings.HUBBUB_PUBLISHER_JWT_KEY, algorithms=["HS256"], audience=url)
    [detail] = payload["authorization_details"]
    assert (detail["actions"], detail["topics"]) == (["publish"], [{"match": "/a"}, {"match": "/b"}])
    assert payload["exp"] - payload["iat"] == 60
