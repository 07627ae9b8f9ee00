"""The listening sockets of ``serve --workers N``: one per worker, the kernel spreading connections.

uvicorn binds one socket in the supervisor and every worker accepts from it. Whichever worker
wakes first takes the connection, so under load a few workers end up with most of them: in
``bench/run.py --scenario scale-out`` with 2 workers and 64 publishers, one worker held most
of the publishers' connections and stored its updates in batches of 18-23, the other in
batches of 2-9 (a transaction, an ordering-lock hold and a layer message each), and two
workers cost 1.17-1.29× the CPU per delivery of one. Long-lived streams are spread as unevenly.

On Linux each worker listens on a socket of its own on the same address instead, all with
``SO_REUSEPORT``: the kernel hashes each new connection to one of them, which spreads them
evenly. The supervisor still binds the address first (so that a port in use stops ``serve``
at once, and port 0 picks the port every worker then takes; see ``claim``) but never listens on it: only
listening sockets receive connections. uvicorn hands the supervisor's socket to each worker
it starts (and restarts) by pickling it; this socket pickles as "bind a socket of your own
to my address", which each worker does as it starts. A worker that dies takes the
connections still waiting in its own accept queue with it (those clients reconnect, as when
any worker dies); new ones go to the others.

Elsewhere (``SO_REUSEPORT`` does not balance on macOS), uvicorn's shared socket is used.
"""

from __future__ import annotations

import socket
import sys
from typing import Any


def balances() -> bool:
    """Whether this platform spreads connections over sockets that share an address."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


class WorkerSocket(socket.socket):
    """A bound socket that each worker process receives as a socket of its own, bound to the same address."""

    def __reduce__(self) -> tuple[Any, ...]:
        return bind, (self.getsockname(), self.family)


def bind(address: tuple[Any, ...], family: socket.AddressFamily = socket.AF_INET) -> WorkerSocket:
    """A TCP socket bound to ``address`` with ``SO_REUSEPORT``, not listening yet."""
    sock = WorkerSocket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def claim(address: tuple[Any, ...], family: socket.AddressFamily = socket.AF_INET) -> WorkerSocket:
    """The supervisor's socket for ``address``: raises ``OSError`` when anything listens there.

    ``SO_REUSEPORT`` lets any process of the same user bind an address its sockets hold, so a
    second ``serve --workers`` on the same port would share the connections with the first
    instead of failing. The address is first bound without it, which fails while any socket
    listens there (port 0 picks the port here)."""
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
        address = probe.getsockname()
    return bind(address, family)
