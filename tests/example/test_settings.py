"""The demo site's settings, read from the environment (each case in a process of its own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ROOT

READ = """
import json
from django.conf import settings
import django
django.setup()
print(json.dumps({
    "prefix_setting": getattr(settings, "HUBBUB_REDIS_PREFIX", None),
    "layer": settings.CHANNEL_LAYERS["default"]["CONFIG"],
    "cache_prefix": settings.CACHES["default"].get("KEY_PREFIX"),
    "csp": settings.CONTENT_SECURITY_POLICY["DIRECTIVES"].get("default-src"),
}))
"""


def settings_with(tmp_path: Path, **env: str) -> dict:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "HUBBUB_"))}
    base.pop("REDIS_URL", None)
    base.update(
        {"DJANGO_SETTINGS_MODULE": "example.settings", "SECRET_KEY": "x" * 50, "HUBBUB_VAR_DIR": str(tmp_path), **env}
    )
    result = subprocess.run(
        [sys.executable, "-c", READ], env=base, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(result.stdout)


def test_without_a_prefix_the_hub_derives_one_and_the_layer_is_given_none(tmp_path):
    read = settings_with(tmp_path, REDIS_URL="redis://127.0.0.1:6379/3")
    assert read["prefix_setting"] is None
    assert read["layer"] == {"hosts": ["redis://127.0.0.1:6379/3"]}
    assert read["cache_prefix"] == "hubbub"  # the cache's keys stay in database 3


def test_a_prefix_from_the_environment_names_the_hubs_groups_the_layer_and_the_cache(tmp_path):
    read = settings_with(tmp_path, REDIS_URL="redis://127.0.0.1:6379/0", HUBBUB_REDIS_PREFIX="site-a")
    assert read["prefix_setting"] == "site-a"
    assert read["layer"] == {"hosts": ["redis://127.0.0.1:6379/0"], "prefix": "site-a"}
    assert read["cache_prefix"] == "site-a"


@pytest.mark.parametrize("redis_url", ["", "redis://127.0.0.1:6379/0"])
def test_pages_are_sent_with_a_strict_content_security_policy(tmp_path, redis_url):
    assert settings_with(tmp_path, REDIS_URL=redis_url)["csp"] == ["'self'"]
