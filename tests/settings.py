"""Test settings: the site's, with fixed keys and nothing reaching outside the test."""

from example.settings import *  # noqa: F403

SECRET_KEY = "tests-only-secret-key-with-enough-length-for-hmac-0123456789"
HUBBUB_PUBLISHER_JWT_KEY = "publisher-key-for-tests-at-least-32-bytes!"
HUBBUB_SUBSCRIBER_JWT_KEY = "subscriber-key-for-tests-at-least-32-bytes"
HUBBUB_RELAY_URL = None
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CHANNEL_LAYERS = {
    "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 100_000}},
}
# The hub's PostgreSQL path (asyncpg, the advisory lock) is tested on a real server; only
# tests that ask for this alias create its test database.
DATABASES["postgres"] = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "hubbub_tests",
    "HOST": "127.0.0.1",
    "PORT": "5432",
    "USER": "postgres",
}
