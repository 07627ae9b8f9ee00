"""Test settings: the site's, with fixed keys and nothing reaching outside the test."""

import os
import uuid

from example.settings import *  # noqa: F403

SECRET_KEY = "tests-only-secret-key-with-enough-length-for-hmac-0123456789"
HUBBUB_PUBLISHER_JWT_KEY = "publisher-key-for-tests-at-least-32-bytes!"
HUBBUB_SUBSCRIBER_JWT_KEY = "subscriber-key-for-tests-at-least-32-bytes"
HUBBUB_RELAY_URL = None  # type: ignore[assignment]  # example.settings sets a str only from the environment
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CHANNEL_LAYERS = {
    "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 100_000}},
}
# What this test run names its own on shared servers (its PostgreSQL databases, its Redis
# prefixes), so that two runs on one machine never touch, nor drop, each other's. Drawn once
# per run and inherited by the processes the run starts.
TEST_RUN_ID = os.environ.setdefault("HUBBUB_TEST_RUN_ID", f"{os.getpid()}_{uuid.uuid4().hex[:8]}")
# The hub's PostgreSQL path (asyncpg, the advisory lock) is tested on a real server; only
# tests that ask for this alias create its test database (pytest-django prefixes "test_"
# and drops it at the end of the run).
DATABASES["postgres"] = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": f"hubbub_tests_{TEST_RUN_ID}",
    "HOST": "127.0.0.1",
    "PORT": "5432",
    "USER": "postgres",
}
