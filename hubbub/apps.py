from django.apps import AppConfig


class HubbubConfig(AppConfig):
    name = "hubbub"
    verbose_name = "Hubbub hub"
    default_auto_field = "django.db.models.BigAutoField"
