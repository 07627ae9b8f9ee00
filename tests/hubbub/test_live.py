"""The hub over real HTTP, against real server processes of both configurations."""

from __future__ import annotations

import asyncio
import random
import subprocess
import time

import httpx
import psycopg
import pytest

from hubbub import _tokens as tokens
from tests import servers
from tests.sse import subscribe

PUBLISH_TOKEN = tokens.mint(servers.PUBLISHER_KEY, publish=["*"])
pytestmark = pytest.mark.timeout(120)


async def post(client: httpx.AsyncClient, hub: str, token: str = PUBLISH_TOKEN, **fields) -> httpx.Response:
    return await client.post(hub, data=fields, headers={"Authorization": f"Bearer {token}"})


async def test_publish_and_receive(hub_server):
    async with httpx.AsyncClient() as client, subscribe(hub_server.hub, "https://example.com/books/{id}") as stream:
        assert stream.status == 200
        assert stream.response.headers["content-type"] == "text/event-stream"
        response = await post(client, hub_server.hub, topic="https://example.com/books/7", data="one\ntwo", type="book")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        event = await stream.next()
        assert (event.id, event.type, event.data) == (response.text.strip(), "book", "one\ntwo")


async def test_bad_requests_get_their_status(hub_server):
    async with httpx.AsyncClient() as client:
        assert (await client.post(hub_server.hub, data={"topic": "t"})).status_code == 401
        assert (await post(client, hub_server.hub, token="bad", topic="t")).status_code == 401
        limited = tokens.mint(servers.PUBLISHER_KEY, publish=["allowed"])
        assert (await post(client, hub_server.hub, token=limited, topic="other")).status_code == 403
        assert (await post(client, hub_server.hub, topic="t", id="#x")).status_code == 400
        response = await post(client, hub_server.hub, topic="t", data="x" * (4 * 1024 * 1024))
        assert response.status_code == 413
        assert (await client.get(hub_server.hub)).status_code == 400
        assert "missing" in (await client.get(hub_server.hub)).text


async def test_resume_after_disconnect(hub_server):
    topic = f"https://example.com/resume/{random.random()}"
    async with httpx.AsyncClient() as client:
        async with subscribe(hub_server.hub, topic) as stream:
            first = (await post(client, hub_server.hub, topic=topic, data="1")).text.strip()
            assert (await stream.next()).id == first
        missed = [(await post(client, hub_server.hub, topic=topic, data=str(n))).text.strip() for n in (2, 3)]
        async with subscribe(hub_server.hub, topic, last_event_id=first) as stream:
            assert [e.id for e in await stream.take(2)] == missed
            # The update just before the first one sent: where the replay started.
            assert stream.response.headers["last-event-id"] == first
            assert await stream.silent()


async def test_publish_command_reaches_open_pages(hub_server):
    topic = f"https://example.com/command/{random.random()}"
    async with subscribe(hub_server.hub, topic) as stream:
        result = await asyncio.to_thread(
            hub_server.manage, "publish", "--topic", topic, "--data", "from another process", "--type", "cmd"
        )
        event = await stream.next(10)
        assert (event.id, event.type, event.data) == (result.stdout.strip(), "cmd", "from another process")


def test_publish_command_errors(embedded_server):
    result = embedded_server.manage("publish", "--topic", "t", "--id", "#bad", check=False)
    assert result.returncode != 0 and "must not start with '#'" in result.stderr


def test_serve_refuses_several_workers_without_redis(embedded_deployment):
    result = embedded_deployment.manage("serve", "--workers", "2", check=False)
    assert result.returncode != 0
    assert "hubbub.E003" in result.stderr and "channels_redis" in result.stderr


@pytest.mark.postgres
@pytest.mark.redis
async def test_two_workers_share_updates_and_history(scaled_deployment):
    one, two = scaled_deployment.start(), scaled_deployment.start()
    topic = f"https://example.com/workers/{random.random()}"
    async with httpx.AsyncClient() as client:
        async with subscribe(one.hub, topic) as stream:
            first = (await post(client, two.hub, topic=topic, data="published on two")).text.strip()
            event = await stream.next()
            assert (event.id, event.data) == (first, "published on two")
        missed = [(await post(client, one.hub, topic=topic, data=f"m{n}")).text.strip() for n in range(3)]
        async with subscribe(two.hub, topic, last_event_id=first) as stream:
            assert [e.id for e in await stream.take(3)] == missed
            live = (await post(client, one.hub, topic=topic, data="live")).text.strip()
            assert (await stream.next()).id == live
    one.stop()
    two.stop()


async def resume_under_load(hubs: list[str], publishers: int = 4, per_publisher: int = 60) -> None:
    """Publishers post concurrently while one subscriber keeps dropping and resuming."""
    topic = f"https://example.com/load/{random.random()}"
    expected = {f"p{p}-{n}" for p in range(publishers) for n in range(per_publisher)}
    received: list[str] = []
    limits = httpx.Limits(max_connections=publishers + 2)

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def publisher(p: int) -> None:
            for n in range(per_publisher):
                response = await post(client, random.choice(hubs), topic=topic, data=f"p{p}-{n}")
                assert response.status_code == 200, response.text
                await asyncio.sleep(random.uniform(0, 0.01))

        async def subscriber(started: asyncio.Event) -> None:
            last_id = None
            while len(received) < len(expected):
                async with subscribe(random.choice(hubs), topic, last_event_id=last_id) as stream:
                    started.set()
                    for _ in range(random.randint(1, 25)):
                        try:
                            event = await stream.next(timeout=10)
                        except TimeoutError:
                            break
                        received.append(event.data)
                        last_id = event.id
                        if len(received) == len(expected):
                            break

        started = asyncio.Event()
        reader = asyncio.create_task(subscriber(started))
        await started.wait()
        await asyncio.gather(*(publisher(p) for p in range(publishers)))
        await asyncio.wait_for(reader, 60)

    assert len(received) == len(set(received)), "an update arrived twice"
    assert set(received) == expected, f"missing: {sorted(expected - set(received))[:10]}"
    for p in range(publishers):
        mine = [int(d.split("-")[1]) for d in received if d.startswith(f"p{p}-")]
        assert mine == sorted(mine), f"publisher {p}'s updates arrived out of order"


async def test_resume_under_load_embedded(embedded_server):
    await resume_under_load([embedded_server.hub])


@pytest.mark.postgres
@pytest.mark.redis
async def test_resume_under_load_across_two_workers(scaled_deployment):
    one, two = scaled_deployment.start(), scaled_deployment.start()
    try:
        await resume_under_load([one.hub, two.hub])
    finally:
        one.stop()
        two.stop()


@pytest.mark.postgres
@pytest.mark.redis
async def test_serve_with_two_workers_on_redis(scaled_deployment):
    """Each worker listens on a socket of its own (``hubbub._listener``): the streams are spread
    over both, and every one gets what was published on either."""
    server = scaled_deployment.start(workers=2)
    deadline = time.monotonic() + 30
    while [listening for listening, _ in server.sockets_by_worker().values()] != [1, 1]:
        assert time.monotonic() < deadline, server.sockets_by_worker()
        await asyncio.sleep(0.05)
    topic = f"https://example.com/w2/{random.random()}"
    async with httpx.AsyncClient() as client:
        streams = [subscribe(server.hub, topic) for _ in range(16)]
        opened = [await s.__aenter__() for s in streams]
        try:
            held = [connections for _, connections in server.sockets_by_worker().values()]
            assert sum(held) == 16 and min(held) >= 1, held  # all on one worker: 1 in 32,768
            update_id = (await post(client, server.hub, topic=topic, data="everyone")).text.strip()
            for stream in opened:
                assert (await stream.next()).id == update_id
        finally:
            for s in streams:
                await s.__aexit__(None, None, None)
    server.stop()
    assert isinstance(server.process, subprocess.Popen)


def stored_count(deployment: servers.Deployment, update_id: str) -> int:
    with psycopg.connect(f"{servers.POSTGRES}/{deployment.database}") as connection:
        return connection.execute("SELECT count(*) FROM hubbub_update WHERE uid = %s", [update_id]).fetchone()[0]


@pytest.mark.postgres
@pytest.mark.redis
async def test_redis_outage_publishing_is_acknowledged_and_loses_and_repeats_nothing(scaled_deployment):
    """Stored is acknowledged: publishing during an outage is answered 200 (the update is in
    the history); subscribing is 503 until Redis is back; resuming then gets each update
    once; a publisher that retries anyway gets 200 and the same id, and nothing new."""
    redis = servers.RedisProcess()
    redis.start()
    server = scaled_deployment.start(extra_env={"REDIS_URL": redis.url})
    topic = f"https://example.com/outage/{random.random()}"
    try:
        async with httpx.AsyncClient() as client:
            async with subscribe(server.hub, topic) as stream:
                before = (await post(client, server.hub, topic=topic, data="before")).text.strip()
                assert (await stream.next()).id == before
                redis.stop()
                with pytest.raises(EOFError):
                    await stream.next(timeout=5)  # dropped at once, to resume from the history
            during = []
            for n in range(3):
                response = await post(client, server.hub, topic=topic, data=f"during {n}", id=f"urn:during:{n}")
                assert (response.status_code, response.text.strip()) == (200, f"urn:during:{n}")
                during.append(response.text.strip())
            response = await client.get(server.hub, params={"topic": topic})
            assert response.status_code == 503 and response.text.count("\n") == 1
            redis.start()
            for _ in range(50):
                async with subscribe(server.hub, topic, last_event_id=before) as stream:
                    if stream.status == 503:
                        await asyncio.sleep(0.2)
                        continue
                    assert stream.status == 200
                    assert [(e.id, e.data) for e in await stream.take(3)] == [
                        (i, f"during {n}") for n, i in enumerate(during)
                    ]
                    retried = await post(client, server.hub, topic=topic, data="during 0", id="urn:during:0")
                    assert (retried.status_code, retried.text.strip()) == (200, "urn:during:0")
                    conflicting = await post(client, server.hub, topic=topic, data="changed", id="urn:during:0")
                    assert conflicting.status_code == 409 and conflicting.text.count("\n") == 1
                    after = (await post(client, server.hub, topic=topic, data="after")).text.strip()
                    assert [e.id for e in await stream.take(1)] == [after]
                    assert await stream.silent(1)
                    break
            else:
                pytest.fail("subscribing was still refused after Redis came back")
        assert await asyncio.to_thread(stored_count, scaled_deployment, "urn:during:0") == 1
    finally:
        server.stop()
        redis.stop()


@pytest.mark.postgres
@pytest.mark.redis
async def test_subscribers_are_dropped_to_resume_when_redis_goes_away(scaled_deployment):
    """At once: not at the next heartbeat (30 s here), when updates could have been lost unnoticed."""
    redis = servers.RedisProcess()
    redis.start()
    server = scaled_deployment.start(extra_env={"REDIS_URL": redis.url, "HUBBUB_HEARTBEAT_SECONDS": "30"})
    topic = f"https://example.com/dropped/{random.random()}"
    try:
        async with subscribe(server.hub, topic) as stream:
            assert stream.status == 200
            redis.stop()
            with pytest.raises(EOFError):
                await stream.next(timeout=5)
    finally:
        server.stop()
        redis.stop()


@pytest.mark.postgres
@pytest.mark.redis
async def test_a_redis_outage_is_logged_once_per_worker_without_tracebacks(scaled_deployment):
    """channels_redis' reader logged a traceback every second per worker while Redis was down."""
    redis = servers.RedisProcess()
    redis.start()
    server = scaled_deployment.start(extra_env={"REDIS_URL": redis.url, "HUBBUB_HEARTBEAT_SECONDS": "30"})
    topic = f"https://example.com/logged/{random.random()}"
    try:
        async with subscribe(server.hub, topic) as stream:
            assert stream.status == 200
            logged = server.log.stat().st_size
            redis.stop()
            with pytest.raises(EOFError):
                await stream.next(timeout=5)
            await asyncio.sleep(3)
        outage = server.log.read_text()[logged:]
        assert "Traceback" not in outage, outage
        assert outage.count("the link to the channel layer broke") == 1, outage
        assert len(outage.splitlines()) <= 3, outage
    finally:
        server.stop()
        redis.stop()


@pytest.mark.postgres
@pytest.mark.redis
async def test_reauthorize_from_another_process_closes_the_users_streams(scaled_server):
    """A shell process (on Redis) reaches the server's streams: the user's closes, another's stays."""
    from tests.notifications.live import signed_in_user

    (_, alice_pk, alice_session), (_, bob_pk, bob_session) = [
        await asyncio.to_thread(signed_in_user, scaled_server, prefix) for prefix in ("alice", "bob")
    ]
    alice_topic, bob_topic = f"/notifications/users/{alice_pk}", f"/notifications/users/{bob_pk}"
    async with (
        subscribe(scaled_server.hub, alice_topic, headers={"Cookie": f"sessionid={alice_session}"}) as alices,
        subscribe(scaled_server.hub, bob_topic, headers={"Cookie": f"sessionid={bob_session}"}) as bobs,
    ):
        assert alices.status == bobs.status == 200
        await asyncio.to_thread(scaled_server.manage, "shell", "-c", f"import hubbub; hubbub.reauthorize({alice_pk})")
        with pytest.raises(EOFError):
            await alices.next(10)
        await asyncio.to_thread(
            scaled_server.manage, "publish", "--topic", bob_topic, "--data", "still here", "--private"
        )
        assert (await bobs.next(10)).data == "still here"
