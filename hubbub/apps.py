from django.apps import AppConfig


class HubbubConfig(AppConfig):
    name = "hubbub"
    verbose_name = "Hubbub hub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import _checks as checks  # noqa: F401  (registers the system checks)
