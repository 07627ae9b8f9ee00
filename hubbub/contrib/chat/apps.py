from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "hubbub.contrib.chat"
    label = "hubbub_chat"
    verbose_name = "Hubbub chat"
    default_auto_field = "django.db.models.BigAutoField"
    # The hub asks this hook which chat topics a signed-in user may read.
    hubbub_authorizers = ["hubbub.contrib.chat.authorization.room_topics"]

    def ready(self) -> None:
        from . import checks, receivers  # noqa: F401
