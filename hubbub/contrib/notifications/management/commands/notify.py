"""``manage.py notify``: notify users from a shell, cron or a deploy script.

Exits 0 once the notifications are stored and handed to the hub for the recipients' open pages;
1 with a one-line reason on stderr when they could not be stored, or were stored but not
delivered live: the hub failed (``hubbub.HubbubError``, e.g. its channel layer or history is
down) or no server answered at ``HUBBUB_RELAY_URL`` (``hubbub.RelayWarning``). Stored
notifications are kept: the pages show them when they next load or reconnect.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hubbub.contrib.notifications.events import undelivered
from hubbub.contrib.notifications.models import Level
from hubbub.contrib.notifications.sending import InvalidNotification, notify
from hubbub.contrib.notifications.usernames import UnknownUsers, users_named


class Command(BaseCommand):
    help = "Notify users: stored, then shown at once on their open pages."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--user", action="append", default=[], metavar="NAME", help="a username (repeat for several)"
        )
        parser.add_argument("--all", action="store_true", help="every active user")
        parser.add_argument("--title", help="the notification's title (required)")
        parser.add_argument("--body", default="", help="its text")
        parser.add_argument("--url", default="", help="where it links to: a path on this site or an http(s) URL")
        parser.add_argument("--level", default=Level.INFO, help=f"one of {', '.join(Level.values)} (default: info)")

    def handle(self, *args: Any, **options: Any) -> None:
        names: list[str] = options["user"]
        if names and options["all"]:
            raise CommandError("give either --user or --all, not both")
        if not names and not options["all"]:
            raise CommandError("give --user NAME (repeatable) or --all")
        if not options["title"]:
            raise CommandError("--title is required")
        if any("\x00" in name for name in names):
            raise CommandError("a --user name must not contain NUL characters")
        User = get_user_model()
        if options["all"]:
            users = list(User.objects.filter(is_active=True).order_by("pk"))
        else:
            try:
                users = users_named(names)
            except UnknownUsers as error:
                raise CommandError(str(error)) from error
        with undelivered() as failures:
            try:
                created = notify(users, options["title"], options["body"], options["url"], options["level"])
            except InvalidNotification as error:
                raise CommandError(str(error)) from error
        ids = ", ".join(str(n.pk) for n in created)
        if failures:
            raise CommandError(
                f"stored {len(created)} notification(s) ({ids}) but could not deliver them live: {failures[0]}"
            )
        self.stdout.write(f"Sent {len(created)} notification(s): {ids}")
