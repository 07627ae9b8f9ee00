import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test gets an empty in-memory layer (fan-outs belong to each test's event loop)."""
    yield
    async_to_sync(get_channel_layer().flush)()
