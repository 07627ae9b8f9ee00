from __future__ import annotations

import sys
from typing import Any

import uvicorn
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hubbub import conf


class Command(BaseCommand):
    help = "Serve the site with uvicorn: N worker processes (more than one needs REDIS_URL)."

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
        if workers > 1 and isinstance(get_channel_layer(conf.get("HUBBUB_CHANNEL_LAYER")), InMemoryChannelLayer):
            raise CommandError(
                "more than one worker needs a channel layer that crosses processes: "
                "the in-memory layer cannot. Set REDIS_URL (e.g. redis://127.0.0.1:6379/0) "
                "and DATABASE_URL, or run one worker."
            )
        if workers > 1 and options["reload"]:
            raise CommandError("--reload runs a single worker")
        # Publishing hands work between the event loop and the database thread; with the
        # default 5 ms GIL switch interval each hand-off can wait that long under load.
        sys.setswitchinterval(0.0005)
        module, _, attribute = settings.ASGI_APPLICATION.rpartition(".")
        uvicorn.run(
            f"{module}:{attribute}",
            host=options["host"],
            port=options["port"],
            workers=workers if workers > 1 else None,
            reload=options["reload"],
            loop="uvloop",
            http="httptools",
            lifespan="off",
            access_log=options["access_log"],
            timeout_graceful_shutdown=options["graceful_timeout"],
        )
