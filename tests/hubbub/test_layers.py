import uuid

import pytest
import redis.exceptions
from channels.layers import InMemoryChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

from hubbub import _layers as layers
from tests.servers import REDIS_URL, free_port


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
    await layers.group_send_pipelined(redis_layer, [("a", first), ("b", first), ("b", second), ("a", third), ("c", third)])
    assert [await redis_layer.receive(both) for _ in range(4)] == [first, first, second, third]
    assert [await redis_layer.receive(only_b) for _ in range(2)] == [first, second]


async def test_pipelined_send_to_unreachable_redis_raises():
    layer = RedisPubSubChannelLayer(hosts=[f"redis://127.0.0.1:{free_port()}/0"])
    try:
        with pytest.raises(redis.exceptions.ConnectionError):
            await layers.group_send_pipelined(layer, [("a", {"type": "m"})])
    finally:
        await layer.flush()
