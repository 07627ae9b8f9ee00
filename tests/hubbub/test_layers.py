import asyncio
import json
import os
import subprocess
import sys
import uuid

import pytest
import redis.exceptions
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer

import hubbub
from hubbub import _fanout as fanout, _layers as layers, testing
from tests.hubbub.asgi import publish
from tests.servers import REDIS_URL, ROOT, free_port


@pytest.fixture
async def redis_layer():
    layer = RedisPubSubChannelLayer(hosts=[REDIS_URL], prefix=f"hubbub-test-{uuid.uuid4().hex[:8]}")
    yield layer
    await layer.flush()


def test_only_channels_redis_pubsub_layer_pipelines():
    assert layers.pipelines(RedisPubSubChannelLayer(hosts=[REDIS_URL]))
    assert not layers.pipelines(InMemoryChannelLayer())


async def test_pipelined_messages_reach_each_group_in_order(redis_layer):
    both = await redis_layer.new_channel()
    only_b = await redis_layer.new_channel()
    await redis_layer.group_add("a", both)
    await redis_layer.group_add("b", both)
    await redis_layer.group_add("b", only_b)
    first, second, third = ({"type": "m", "n": n} for n in range(3))
    await layers.group_send_pipelined(
        redis_layer, [("a", first), ("b", first), ("b", second), ("a", third), ("c", third)]
    )
    assert [await redis_layer.receive(both) for _ in range(4)] == [first, first, second, third]
    assert [await redis_layer.receive(only_b) for _ in range(2)] == [first, second]


async def test_pipelined_send_to_unreachable_redis_raises():
    layer = RedisPubSubChannelLayer(hosts=[f"redis://127.0.0.1:{free_port()}/0"])
    try:
        with pytest.raises(redis.exceptions.ConnectionError):
            await layers.group_send_pipelined(layer, [("a", {"type": "m"})])
    finally:
        await layer.flush()


@pytest.fixture
async def no_channel_layers(settings):
    """A project without CHANNEL_LAYERS (a first install): the hub's own in-memory layer."""
    del settings.CHANNEL_LAYERS
    yield settings
    if layers._own_layer is not None:
        await layers._own_layer.flush()  # its queues belong to this test's event loop


def test_without_channel_layers_the_hub_uses_an_in_memory_layer_of_its_own(no_channel_layers):
    layer = layers.channel_layer()
    assert isinstance(layer, InMemoryChannelLayer)
    assert layers.channel_layer() is layer
    assert layers.is_local(layer)
    assert not layers.pipelines(layer)
    # Subscribers stay connected for days: their group memberships must not expire.
    assert layer.group_expiry >= 365 * 24 * 3600


def test_the_layer_hubbub_channel_layer_names(settings):
    settings.CHANNEL_LAYERS = {
        **settings.CHANNEL_LAYERS,
        "hub": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
    }
    settings.HUBBUB_CHANNEL_LAYER = "hub"
    assert layers.channel_layer() is get_channel_layer("hub")
    assert layers.channel_layer() is not get_channel_layer()


@pytest.mark.django_db(transaction=True)
async def test_without_channel_layers_updates_still_reach_subscribers(no_channel_layers):
    """End to end in one process: publishing over HTTP and from Python, history included."""
    async with testing.subscribe("/books/1") as page:
        status, update_id = await publish(topic="/books/1", data="over HTTP")
        assert status == 200
        first = await page.next(timeout=5)
        second_id = await hubbub.apublish("/books/1", "from Python", type="review")
        second = await page.next(timeout=5)
    assert (first.id, first.data) == (update_id.decode(), "over HTTP")
    assert (second.id, second.type, second.data) == (second_id, "review", "from Python")
    async with testing.subscribe("/books/1", last_event_id="earliest") as resumed:
        assert [(await resumed.next(timeout=5)).data for _ in range(2)] == ["over HTTP", "from Python"]


# Run in a fresh interpreter: which modules a project on the base install loads.
OPTIONAL_BACKENDS_SCRIPT = """
import asyncio, importlib, pkgutil, sys
import django
from django.conf import settings

settings.configure(
    SECRET_KEY="a-secret-key-long-enough-for-the-derived-keys-0123456789",
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions", "hubbub"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": sys.argv[1]}},
    ROOT_URLCONF=[],
    HUBBUB_RELAY_URL=None,
)
django.setup()

import hubbub, hubbub.asgi, hubbub.testing
for module in pkgutil.iter_modules(hubbub.__path__):
    if module.name != "contrib":
        importlib.import_module(f"hubbub.{module.name}")
for command in ("publish", "runserver", "serve"):
    importlib.import_module(f"hubbub.management.commands.{command}")
from django.core import checks
from django.core.management import call_command

call_command("migrate", verbosity=0)
assert [m.id for m in checks.run_checks() if m.id.startswith("hubbub.") and m.is_serious()] == []


async def main():
    async with hubbub.testing.subscribe("t") as page:
        update_id = await hubbub.apublish("t", "on the in-memory layer")
        event = await page.next(timeout=5)
    assert (event.id, event.data) == (update_id, "on the in-memory layer"), event


asyncio.run(main())
optional = ("channels_redis", "redis", "asyncpg", "psycopg", "psycopg2", "uvloop", "httptools")
print(*(name for name in optional if name in sys.modules))
"""


def test_a_project_on_the_base_install_imports_no_optional_backend(tmp_path):
    """channels_redis (hubbub[redis]) and asyncpg (hubbub[postgres]) are imported only when configured."""
    result = subprocess.run(
        [sys.executable, "-c", OPTIONAL_BACKENDS_SCRIPT, str(tmp_path / "db.sqlite3")],
        cwd=ROOT,
        env={key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []


# Group names: every deployment's own, even on one Redis server


def redis_layers(*hosts: object, prefix: str = "asgi") -> dict:
    return {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": list(hosts), "prefix": prefix},
        }
    }


def group_with(settings, channel_layers: dict) -> str:
    settings.CHANNEL_LAYERS = channel_layers
    return layers.group("all")


def valid_group(name: str) -> bool:
    return InMemoryChannelLayer().require_valid_group_name(name)


@pytest.mark.parametrize(
    ("one", "two"),
    [
        ("redis://h:6379/1", "redis://h:6379/2"),
        ("redis://:secret@h:6379/1", "redis://:secret@h:6379/2"),
        ("redis://h:6379?db=1", "redis://h:6379?db=2"),
        ("redis://h:6379/0", "redis://h:6379/10"),
        ({"address": "redis://h:6379", "db": 1}, {"address": "redis://h:6379", "db": 2}),
        ({"address": "redis://h:6379/1"}, {"address": "redis://h:6379/2"}),
        ({"host": "h", "port": 6379, "db": 1}, {"host": "h", "port": 6379, "db": 2}),
    ],
)
def test_deployments_told_apart_only_by_the_redis_database_number_have_their_own_groups(settings, one, two):
    """Redis pub/sub ignores the database number: two deployments on /1 and /2 shared every
    channel, and each saw the other's updates, private ones included."""
    first = group_with(settings, redis_layers(one))
    second = group_with(settings, redis_layers(two))
    assert first != second
    assert valid_group(first) and valid_group(second)
    assert first.startswith("hubbub.") and first.endswith(".all")
    assert group_with(settings, redis_layers(one)) == first, "the same settings, the same groups"


def test_the_default_database_number_is_zero(settings):
    assert group_with(settings, redis_layers("redis://h:6379")) == group_with(
        settings, redis_layers("redis://h:6379/0")
    )
    assert group_with(settings, redis_layers(("h", 6379))) == group_with(settings, redis_layers("redis://h:6379/0"))


def test_the_history_database_tells_deployments_apart_too(settings, monkeypatch):
    settings.CHANNEL_LAYERS = redis_layers("redis://h:6379/1")
    on_default = layers.deployment_prefix()
    assert on_default == layers.deployment_prefix()
    monkeypatch.setattr("django.db.router.db_for_write", lambda model, **hints: "postgres")
    assert layers.deployment_prefix() != on_default


def test_an_explicit_prefix_is_used_as_it_is(settings):
    settings.CHANNEL_LAYERS = redis_layers("redis://h:6379/1")
    settings.HUBBUB_REDIS_PREFIX = "site-a"
    assert layers.group("all") == fanout.all_group() == "hubbub.site-a.all"
    assert fanout.control_group() == "hubbub.site-a.control"
    settings.CHANNEL_LAYERS = redis_layers("redis://h:6379/2")
    assert layers.group("all") == "hubbub.site-a.all", "what it says, whatever the Redis database"


@pytest.mark.parametrize("prefix", ["my site/β:1", "x" * 200, "a b", "ü"])
def test_an_explicit_prefix_a_group_name_cannot_hold_is_hashed(settings, prefix):
    settings.HUBBUB_REDIS_PREFIX = prefix
    group = layers.group("all")
    assert valid_group(group) and group.endswith(".all")
    assert layers.group("all") == group
    settings.HUBBUB_REDIS_PREFIX = prefix + "2"
    assert layers.group("all") != group


# Run by the other deployment: it shares this test's Redis server and channels_redis prefix,
# and differs only in the Redis database number; its history database has the same settings
# (an in-memory SQLite of its own).
OTHER_DEPLOYMENT_SCRIPT = """
import json, sys
import django
from django.conf import settings

database, channel_layers, topic = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
settings.configure(
    SECRET_KEY="a-secret-key-long-enough-for-the-derived-keys-0123456789",
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "hubbub"],
    DATABASES={"default": database},
    CHANNEL_LAYERS=channel_layers,
    HUBBUB_RELAY_URL=None,
    USE_TZ=True,
)
django.setup()
from django.core.management import call_command

call_command("migrate", verbosity=0)
import hubbub

hubbub.publish(topic, "from " + channel_layers["default"]["CONFIG"]["hosts"][0])
"""


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
async def test_a_deployment_on_another_redis_database_of_the_same_server_is_not_heard(settings):
    """Issue #10, 1: the defaults alone keep deployments on one Redis server apart. The
    other deployment is another process, as it would be; on the same database number it is
    heard (the same settings give every worker the same groups)."""
    shared_prefix = f"hubbub-test-{uuid.uuid4().hex[:8]}"
    here = REDIS_URL.rsplit("/", 1)[0] + "/1"
    settings.CHANNEL_LAYERS = redis_layers(here, prefix=shared_prefix)
    database = {key: settings.DATABASES["default"][key] for key in ("ENGINE", "NAME", "HOST", "PORT")}
    topic = f"/shared/{uuid.uuid4().hex}"

    async def other_deployment(redis_url: str) -> None:
        result = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-c",
                OTHER_DEPLOYMENT_SCRIPT,
                json.dumps(database),
                json.dumps(redis_layers(redis_url, prefix=shared_prefix)),
                topic,
            ],
            cwd=ROOT,
            env={key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr

    try:
        async with testing.subscribe(topic, "*") as page:
            assert page.status == 200
            await other_deployment(REDIS_URL.rsplit("/", 1)[0] + "/2")
            await other_deployment(here)
            events = await page.take(1, timeout=10)
            assert [event.data for event in events] == [f"from {here}"]
            assert await page.silent(0.5)
    finally:
        hub = fanout.current()
        if hub.link is not None:
            await hub.link.close()
        await layers.channel_layer().flush()
