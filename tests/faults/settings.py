"""The demo's settings, serving the fault suite's application (tests/faults/asgi.py)."""

from example.settings import *  # noqa: F403

ASGI_APPLICATION = "tests.faults.asgi.application"
