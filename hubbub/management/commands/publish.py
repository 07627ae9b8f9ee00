from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hubbub.exceptions import HubbubError
from hubbub._publishing import publish


class Command(BaseCommand):
    help = "Publish an update to one or more hub topics; prints its id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--topic", action="append", required=True, help="a topic (repeat for several)")
        parser.add_argument("--data", default="", help="the update's data ('-' reads standard input)")
        parser.add_argument("--private", action="store_true", help="deliver only to authorized subscribers")
        parser.add_argument("--type", default=None, help="the SSE event type")
        parser.add_argument("--id", default=None, help="the update's id (default: a new urn:uuid)")
        parser.add_argument("--retry", default=None, help="the SSE reconnection time in milliseconds")

    def handle(self, *args: Any, **options: Any) -> None:
        data = sys.stdin.read() if options["data"] == "-" else options["data"]
        try:
            update_id = publish(
                options["topic"],
                data,
                private=options["private"],
                type=options["type"],
                id=options["id"],
                retry=options["retry"],
            )
        except HubbubError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(update_id)
