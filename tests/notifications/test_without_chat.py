"""The notifications in a project without hubbub.contrib.chat (settings_without_chat.py), in
processes of their own: the app registry cannot drop an installed app inside a test."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.servers import ROOT, free_port

SETTINGS = "tests.notifications.settings_without_chat"

# Run in the project: the centre and the bell inside the project's base template, notify,
# and nothing of the chat imported, nor listened to.
PAGES = """
import sys
from django.test import Client
from django.test.utils import setup_test_environment
from django.contrib.auth import get_user_model
from hubbub.contrib.notifications import notify
from hubbub.contrib.notifications.models import Notification

setup_test_environment()
alice = get_user_model().objects.create_user("alice")
get_user_model().objects.create_user("bob")
notify(alice, "Hello @bob", body="@bob: a mention, without a chat to make it one")
client = Client()
client.force_login(alice)
response = client.get("/notifications/")
html = response.content.decode()
assert response.status_code == 200, response.status_code
assert "data-plain-base" in html and "<title>Notifications | Plain site</title>" in html
assert 'aria-label="Notifications: 1 unread"' in html and "Hello @bob" in html
assert client.post("/notifications/read/", HTTP_ACCEPT="application/json").json()["unread"] == 0
assert Notification.objects.filter(recipient__username="bob").count() == 0
assert "hubbub.contrib.chat" not in sys.modules, "the notifications imported the chat"
from hubbub.contrib.chat.signals import member_added, message_posted
assert not message_posted.has_listeners() and not member_added.has_listeners()
print("pages ok")
"""

COUNT = "from hubbub.contrib.notifications.models import Notification; print(Notification.objects.count())"


def count(project) -> int:
    return int(project("shell", "-c", COUNT).stdout.split()[-1])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("without-chat")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "HUBBUB_", "PYTEST_")) or key == "HUBBUB_TEST_RUN_ID"
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "HUBBUB_TEST_DB": str(folder / "db.sqlite3"),
            "HUBBUB_VAR_DIR": str(folder),
        }
    )

    def manage(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env={**env, **(extra_env or {})},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    migrated = manage("migrate", "--verbosity", "0")
    assert migrated.returncode == 0, migrated.stderr
    return manage


def test_the_system_checks_pass_without_the_chat(project):
    result = project("check", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "hubbub_" not in result.stdout + result.stderr


def test_the_centre_bell_and_notify_work_and_mentions_do_nothing(project):
    result = project("shell", "-c", PAGES)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("pages ok")


def test_the_notify_command_exits_0_when_delivered_and_1_when_only_stored(project):
    project(
        "shell", "-c", "from django.contrib.auth import get_user_model; get_user_model().objects.create_user('carol')"
    )
    before = count(project)

    delivered = project("notify", "--user", "carol", "--title", "Kept and delivered")
    assert delivered.returncode == 0, delivered.stderr
    assert delivered.stdout.startswith("Sent 1 notification(s): ")

    # A relay URL where no server answers: stored, not delivered live.
    relay = f"http://127.0.0.1:{free_port()}/.well-known/mercure"
    undelivered = project("notify", "--user", "carol", "--title", "Kept only", extra_env={"HUBBUB_RELAY_URL": relay})
    assert undelivered.returncode == 1
    assert undelivered.stdout == ""
    assert "CommandError: stored 1 notification(s) (" in undelivered.stderr
    assert f"but could not deliver them live: hubbub: no server at {relay}" in undelivered.stderr
    assert count(project) == before + 2
