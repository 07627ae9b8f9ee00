"""``serve``: the project in production, with uvicorn.

Serves ``ASGI_APPLICATION``, or, when the project does not set it, Django's application
with the hub in front (the factory ``hubbub.asgi:project_application``). uvloop and
httptools are used when installed (the ``hubbub[server]`` extra), else asyncio and h11,
through the hub's HTTP protocol (``hubbub._server``: bounded request heads).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from uvicorn.supervisors import Multiprocess

from hubbub import _checks as checks, _listener as listener, _server as server

logger = logging.getLogger("uvicorn.error")


class Command(BaseCommand):
    help = (
        "Serve the project in production with uvicorn, in N worker processes "
        "(more than one needs a channel layer and a database that cross processes: Redis and PostgreSQL)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("PORT") or 8000),
            help="default: $PORT, else 8000 (where commands on this host deliver updates by default)",
        )
        parser.add_argument("--workers", type=int, default=1)
        parser.add_argument("--reload", action="store_true", help="restart on code changes (one worker)")
        parser.add_argument("--access-log", action="store_true")
        parser.add_argument(
            "--forwarded-allow-ips",
            default=None,
            help=(
                "comma-separated addresses (or *) of the proxies whose X-Forwarded-For and X-Forwarded-Proto "
                "are trusted: the client address they give is the one connection limits count "
                "(default: $FORWARDED_ALLOW_IPS, else 127.0.0.1,::1)"
            ),
        )
        parser.add_argument(
            "--graceful-timeout",
            type=float,
            default=3.0,
            help="seconds open streams get on shutdown before they are closed (they resume elsewhere)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workers = options["workers"]
        if workers < 1:
            raise CommandError("--workers must be at least 1.")
        errors = [message for message in checks.check_workers(workers) if message.is_serious()]
        if errors:
            raise CommandError(
                f"{workers} workers cannot serve this hub:\n"
                + "\n".join(f"{error.id}: {error.msg}\n\tHINT: {error.hint}" for error in errors)
            )
        if workers > 1 and options["reload"]:
            raise CommandError("--reload runs a single worker.")
        target, factory = application_target()
        # Publishing hands work between the event loop and the database thread; with the
        # default 5 ms GIL switch interval each hand-off can wait that long under load.
        sys.setswitchinterval(0.0005)
        arguments: dict[str, Any] = dict(
            factory=factory,
            host=options["host"],
            port=options["port"],
            workers=workers if workers > 1 else None,
            reload=options["reload"],
            # uvloop and httptools when installed (the hubbub[server] extra), else asyncio and h11.
            loop="auto",
            **server.uvicorn_options(),
            proxy_headers=True,
            forwarded_allow_ips=options["forwarded_allow_ips"],
            lifespan="off",
            access_log=options["access_log"],
            timeout_graceful_shutdown=options["graceful_timeout"],
        )
        if workers > 1 and listener.balances():
            serve_workers(uvicorn.Config(target, **arguments))
        else:
            uvicorn.run(target, **arguments)


def serve_workers(config: uvicorn.Config) -> None:
    """uvicorn's supervisor, with a listening socket per worker (``hubbub._listener``)."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    try:
        sock = listener.claim((config.host, config.port), family)
    except OSError as error:
        raise CommandError(f"cannot listen on {config.host}:{config.port}: {error}") from error
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    logger.info("Uvicorn running on http://%s:%d, %d workers (Press CTRL+C to quit)", shown, port, config.workers)
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()


def application_target() -> tuple[str, bool]:
    """What uvicorn imports in each worker, as ``module:attribute``, and whether it is a factory."""
    name = getattr(settings, "ASGI_APPLICATION", None)
    if name:
        module, _, attribute = name.rpartition(".")
        return f"{module}:{attribute}", False
    return "hubbub.asgi:project_application", True
