from __future__ import annotations

import sys
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hubbub import _checks as checks


class Command(BaseCommand):
    help = "Serve the project in production with uvicorn: N worker processes (more than one needs Redis and a database server)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=1)
        parser.add_argument("--reload", action="store_true", help="restart on code changes (one worker)")
        parser.add_argument("--access-log", action="store_true")
        parser.add_argument(
            "--graceful-timeout",
            type=float,
            default=3.0,
            help="seconds open streams get on shutdown before they are closed (they resume elsewhere)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workers = options["workers"]
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        errors = [message for message in checks.check_workers(workers) if message.is_serious()]
        if errors:
            raise CommandError("\n".join(f"{error.id}: {error.msg} {error.hint}" for error in errors))
        if workers > 1 and options["reload"]:
            raise CommandError("--reload runs a single worker")
        # Publishing hands work between the event loop and the database thread; with the
        # default 5 ms GIL switch interval each hand-off can wait that long under load.
        sys.setswitchinterval(0.0005)
        name = getattr(settings, "ASGI_APPLICATION", None)
        if name:
            module, _, attribute = name.rpartition(".")
            target, factory = f"{module}:{attribute}", False
        else:
            target, factory = "hubbub.asgi:project_application", True
        uvicorn.run(
            target,
            factory=factory,
            host=options["host"],
            port=options["port"],
            workers=workers if workers > 1 else None,
            reload=options["reload"],
            # uvloop and httptools when installed (the hubbub[server] extra).
            loop="auto",
            http="auto",
            lifespan="off",
            access_log=options["access_log"],
            timeout_graceful_shutdown=options["graceful_timeout"],
        )
