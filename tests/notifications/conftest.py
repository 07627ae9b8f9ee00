from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group


@pytest.fixture
def fresh_channel_layer():
    """Each test gets an empty in-memory layer (fan-outs belong to each test's event loop)."""
    yield
    async_to_sync(get_channel_layer().flush)()


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def bob(db):
    return get_user_model().objects.create_user("bob", password="pw-bob-123")


@pytest.fixture
def carol(db):
    return get_user_model().objects.create_user("carol", password="pw-carol-123")


@pytest.fixture
def team(alice, bob):
    group = Group.objects.create(name="team")
    group.user_set.add(alice, bob)
    return group
