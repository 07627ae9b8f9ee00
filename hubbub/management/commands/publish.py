"""``publish``: publish an update from the command line (a cron job, a deploy script, a shell).

On the in-memory channel layer this process reaches no subscriber itself: it delivers
through the server running on this host (``HUBBUB_RELAY_URL``, by default
``http://127.0.0.1:$PORT/.well-known/mercure``). When no server answers there, the update
is stored only, and the command says so on stderr and exits with status 1.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hubbub._publishing import publish
from hubbub.exceptions import HubbubError, OutcomeUnknown, RelayWarning


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
        with _relay_warnings() as relay_warnings:
            try:
                update_id = publish(
                    options["topic"],
                    data,
                    private=options["private"],
                    type=options["type"],
                    id=options["id"],
                    retry=options["retry"],
                )
            except OutcomeUnknown as error:
                raise CommandError(f"It is not known whether the update was published: {error}") from error
            except HubbubError as error:
                raise CommandError(f"The update was not published: {error}") from error
        self.stdout.write(update_id)
        if relay_warnings:
            # The id is printed all the same: the update is stored, and pages get it when they resume.
            raise CommandError(str(relay_warnings[0].message))


@contextmanager
def _relay_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Collects the RelayWarnings of the block (the command reports them itself, once, as
    its error, rather than also as a logged warning)."""
    publishing_logger = logging.getLogger("hubbub._publishing")
    reported = _DropRelayFailures()
    publishing_logger.addFilter(reported)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RelayWarning)
            collected: list[warnings.WarningMessage] = []
            yield collected
        for warning in caught:
            if issubclass(warning.category, RelayWarning):
                collected.append(warning)
            else:  # not ours to report: shown as they would have been
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    finally:
        publishing_logger.removeFilter(reported)


class _DropRelayFailures(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.WARNING and "to deliver update" in record.getMessage())
