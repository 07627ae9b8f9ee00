from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from hubbub.contrib.chat.models import Room


@pytest.fixture(autouse=True)
def fresh_state(request: pytest.FixtureRequest):
    """Rate-limit counters live in the cache; fan-outs in the in-memory layer (in-process tests only)."""
    if request.node.get_closest_marker("browser"):
        yield
        return
    cache.clear()
    yield
    cache.clear()
    async_to_sync(get_channel_layer().flush)()


def make_guest(name: str):
    user = get_user_model()(username=name)
    user.set_unusable_password()
    user.save()
    return user


@pytest.fixture
def alice(db):
    return make_guest("alice")


@pytest.fixture
def bob(db):
    return make_guest("bob")


@pytest.fixture
def general(db) -> Room:
    return Room.objects.get(slug="general")


@pytest.fixture
def secret(db, alice) -> Room:
    room = Room.objects.create(slug="secret", name="Secret", is_private=True, created_by=alice)
    room.members.add(alice)
    return room


def client_for(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client
