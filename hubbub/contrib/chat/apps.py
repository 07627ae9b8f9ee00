import importlib.util

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class ChatConfig(AppConfig):
    name = "hubbub.contrib.chat"
    label = "hubbub_chat"
    verbose_name = "Hubbub chat"
    default_auto_field = "django.db.models.BigAutoField"
    # The hub asks this hook which chat topics a signed-in user may read.
    hubbub_authorizers = ["hubbub.contrib.chat.authorization.room_topics"]

    def ready(self) -> None:
        for module in ("confusable_homoglyphs", "markdown_it", "nh3", "PIL"):
            if importlib.util.find_spec(module) is None:
                raise ImproperlyConfigured(
                    f"hubbub.contrib.chat needs {module}, which the chat's extra installs: pip install 'hubbub[chat]'"
                )
        from . import checks, receivers  # noqa: F401
