from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "hubbub.contrib.chat"
    label = "hubbub_chat"
    verbose_name = "Hubbub chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
