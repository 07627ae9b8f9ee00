"""A project with the notifications but not the chat (nor the demo's base template, which
links chat pages): tests/notifications/test_without_chat.py runs processes on it.

``HUBBUB_TEST_DB`` names its SQLite file, shared by those processes; ``HUBBUB_RELAY_URL``, when
set, where commands deliver through.
"""

import os
from pathlib import Path

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in ("hubbub.contrib.chat", "example")]  # noqa: F405
ROOT_URLCONF = "tests.notifications.urls_without_chat"
TEMPLATES = [{**TEMPLATES[0], "DIRS": [Path(__file__).parent / "templates"]}]  # noqa: F405
HUBBUB_BASE_TEMPLATE = "plain/base.html"
LOGIN_URL = "/admin/login/"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["HUBBUB_TEST_DB"]}}
HUBBUB_RELAY_URL = os.environ.get("HUBBUB_RELAY_URL") or None
