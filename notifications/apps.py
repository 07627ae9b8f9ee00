import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        try:
            from chat.signals import member_added, message_posted
        except ImportError:
            logger.info("notifications: chat's signals not found; @mentions and room additions notify no one")
            return
        from .memberships import notify_member_added
        from .mentions import notify_mentions

        message_posted.connect(notify_mentions, dispatch_uid="notifications.mentions")
        member_added.connect(notify_member_added, dispatch_uid="notifications.memberships")
