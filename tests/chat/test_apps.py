import importlib.util

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from hubbub.contrib.chat import apps as chat_apps


@pytest.mark.parametrize("missing", ["confusable_homoglyphs", "markdown_it", "nh3", "PIL"])
def test_the_chat_without_its_extra_says_how_to_install_it(monkeypatch, missing):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        chat_apps.importlib.util, "find_spec", lambda name, *args: None if name == missing else find_spec(name, *args)
    )
    with pytest.raises(ImproperlyConfigured, match=rf"needs {missing}, .*pip install 'hubbub\[chat\]'"):
        apps.get_app_config("hubbub_chat").ready()


def test_the_chat_with_its_extra_starts():
    apps.get_app_config("hubbub_chat").ready()
