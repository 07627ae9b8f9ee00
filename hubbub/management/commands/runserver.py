"""``runserver`` as an ASGI server, so that the development server serves the hub's streams.

Django's own runserver is a WSGI server: it cannot hold thousands of open streams, and
the hub's endpoint is an ASGI application. This one keeps runserver's options, checks and
autoreload, and serves the project's ASGI application (``ASGI_APPLICATION``, else Django's
with the hub in front) with uvicorn, as daphne's runserver does for Channels. It takes
over from Django's when ``hubbub`` is listed before ``django.contrib.staticfiles`` in
``INSTALLED_APPS`` (system check ``hubbub.W003`` says so otherwise).
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any

import uvicorn
from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.contrib.staticfiles.management.commands.runserver import Command as StaticfilesRunserver
from django.db import connections
from django.utils import autoreload

from hubbub.asgi import project_application


class Command(StaticfilesRunserver):
    help = "Starts the development server (ASGI, with the Hubbub hub at /.well-known/mercure) and serves static files."

    def inner_run(self, *args: Any, **options: Any) -> None:
        autoreload.raise_last_exception()
        if not options["skip_checks"]:
            self.stdout.write("Performing system checks...\n\n")
            self.check(display_num_errors=True)
        self.check_migrations()
        for connection in connections.all(initialized_only=True):
            connection.close()

        application = project_application()
        if (
            apps.is_installed("django.contrib.staticfiles")
            and options["use_static_handler"]
            and (settings.DEBUG or options["insecure_serving"])
        ):
            application = ASGIStaticFilesHandler(application)  # type: ignore[no-untyped-call]
        host = self.addr.strip("[]") if self._raw_ipv6 else ("0.0.0.0" if self.addr == "0" else self.addr)
        config = uvicorn.Config(
            application,
            host=host,
            port=int(self.port),
            lifespan="off",
            log_level="info",
            access_log=True,
        )
        server = uvicorn.Server(config)
        self.on_bind(self.port)
        try:
            server.run()
        except OSError as error:
            messages = {
                errno.EACCES: "You don't have permission to access that port.",
                errno.EADDRINUSE: "That port is already in use.",
                errno.EADDRNOTAVAIL: "That IP address can't be assigned to.",
            }
            self.stderr.write(f"Error: {messages.get(error.errno, error)}")
            os._exit(1)
        except KeyboardInterrupt:
            sys.exit(0)
        if not server.started:
            # uvicorn reports a failed bind and returns instead of raising.
            os._exit(1)
