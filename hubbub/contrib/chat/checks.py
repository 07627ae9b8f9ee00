"""System checks of the chat: ``hubbub_chat.E001`` (the base template its pages extend cannot be
used) and ``hubbub_chat.E002`` (its own templates cannot be found); see ``hubbub.contrib.pages``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core import checks

from hubbub.contrib.pages import check_base_template

LABEL = "hubbub_chat"


@checks.register(checks.Tags.templates)
def base_template(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if app_configs is not None and LABEL not in {config.label for config in app_configs}:
        return []
    return check_base_template(LABEL, "hubbub.contrib.chat", "hubbub/chat/room.html")
