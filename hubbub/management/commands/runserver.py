"""``runserver`` as an ASGI server, so that the development server serves the hub's streams.

Django's own runserver is a WSGI server: it cannot hold open streams, and the hub's
endpoint is an ASGI application. This one keeps runserver's options, checks, autoreload
and static files, and serves the project's ASGI application (``ASGI_APPLICATION``, else
Django's with the hub in front) with uvicorn, as daphne's runserver does for Channels. It
takes over from Django's when ``hubbub`` is listed before ``django.contrib.staticfiles`` in
``INSTALLED_APPS`` (system check ``hubbub.W001`` says so otherwise).
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
import threading
from typing import Any, NoReturn, cast

import uvicorn
from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.contrib.staticfiles.management.commands.runserver import Command as StaticfilesRunserver
from django.core.management.commands.runserver import Command as RunserverCommand
from django.db import connections
from django.utils import autoreload

from hubbub import _server as server
from hubbub.asgi import ASGIApp, project_application

# Seconds open streams get to end when the server stops; then they are closed, and the
# pages resume from the history when the server is back.
SHUTDOWN_SECONDS = 1

_BIND_ERRORS = {
    errno.EACCES: "You don't have permission to access that port.",
    errno.EADDRINUSE: "That port is already in use.",
    errno.EADDRNOTAVAIL: "That IP address can't be assigned to.",
}


class Command(StaticfilesRunserver):
    help = "Starts the development server (ASGI, with the Hubbub hub at /.well-known/mercure) and serves static files."

    # Set by Django's runserver.handle() from the command line.
    addr: str
    port: str
    use_ipv6: bool
    _raw_ipv6: bool

    def inner_run(self, *args: Any, **options: Any) -> None:
        # Raise here an exception that Django silenced before the autoreloader started.
        autoreload.raise_last_exception()
        if threading.current_thread() is threading.main_thread():
            # Without the autoreloader (which does the same), SIGTERM stops the server as
            # Ctrl-C does: streams get SHUTDOWN_SECONDS to end, then the command exits 0.
            signal.signal(signal.SIGTERM, _exit_cleanly)
        if not options["skip_checks"]:
            self.stdout.write("Performing system checks...\n\n")
            check_kwargs = cast(dict[str, Any], super(RunserverCommand, self).get_check_kwargs(options))
            self.check(display_num_errors=True, **check_kwargs)
        self.check_migrations()
        for connection in connections.all(initialized_only=True):
            connection.close()

        application = self.get_application(**options)
        try:
            sock = self.bind()
        except OSError as error:
            self.stderr.write(f"Error: {_BIND_ERRORS.get(error.errno or 0, error)}")
            os._exit(1)  # sys.exit would end only the autoreloader's server thread
        config = uvicorn.Config(
            application,
            **server.uvicorn_options(),  # the hub's HTTP protocol: bounded request heads
            lifespan="off",
            log_level="info",
            access_log=True,
            timeout_graceful_shutdown=SHUTDOWN_SECONDS,
        )
        uvicorn_server = uvicorn.Server(config)
        self.on_bind(int(self.port))
        try:
            uvicorn_server.run(sockets=[sock])
        except KeyboardInterrupt:
            sys.exit(0)
        finally:
            sock.close()

    def get_application(self, **options: Any) -> ASGIApp:
        """The project's ASGI application, behind Django's static files handler when
        runserver serves static files (DEBUG, or ``--insecure``)."""
        application = project_application()
        if (
            apps.is_installed("django.contrib.staticfiles")
            and options["use_static_handler"]
            and (settings.DEBUG or options["insecure_serving"])
        ):
            # Any ASGI application works: the handler serves STATIC_URL and hands it the rest.
            wrapped: Any = application
            static: ASGIApp = ASGIStaticFilesHandler(wrapped)
            return static
        return application

    def bind(self) -> socket.socket:
        """The listening socket, bound here so that a busy port gets runserver's own message."""
        family = socket.AF_INET6 if self.use_ipv6 else socket.AF_INET
        host = "0.0.0.0" if self.addr == "0" else self.addr
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, int(self.port)))
            sock.listen(2048)
        except OSError:
            sock.close()
            raise
        return sock


def _exit_cleanly(signum: int, frame: object) -> NoReturn:
    sys.exit(0)
