import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        try:
            from chat.signals import message_posted
        except ImportError:
            logger.info("notifications: chat.signals.message_posted not found; @mentions are off")
            return
        from .mentions import notify_mentions

        message_posted.connect(notify_mentions, dispatch_uid="notifications.mentions")
