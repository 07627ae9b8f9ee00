import logging

from django.apps import AppConfig, apps

logger = logging.getLogger(__name__)


class NotificationsConfig(AppConfig):
    name = "hubbub.contrib.notifications"
    label = "hubbub_notifications"
    verbose_name = "Hubbub notifications"
    default_auto_field = "django.db.models.BigAutoField"
    # The hub asks this hook for the user's own notification topic.
    hubbub_authorizers = ["hubbub.contrib.notifications.authorization.user_topics"]

    def ready(self) -> None:
        from . import checks  # noqa: F401

        if not apps.is_installed("hubbub.contrib.chat"):
            logger.info(
                "notifications: hubbub.contrib.chat is not installed; @mentions and room additions notify no one"
            )
            return
        from hubbub.contrib.chat.signals import member_added, message_edited, message_posted

        from .memberships import notify_member_added
        from .mentions import notify_mentions, notify_new_mentions

        message_posted.connect(notify_mentions, dispatch_uid="hubbub.contrib.notifications.mentions")
        message_edited.connect(notify_new_mentions, dispatch_uid="hubbub.contrib.notifications.edited_mentions")
        member_added.connect(notify_member_added, dispatch_uid="hubbub.contrib.notifications.memberships")
