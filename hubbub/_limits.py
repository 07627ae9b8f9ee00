"""Connection limits of one worker process: streams open in all, per client address, per user or token.

A subscription takes a ``Lease`` before it is registered, and gives it back when its stream
ends, whatever ends it. A client over a limit is answered 429 with ``Retry-After``; the limits
count streams only (publishing and every other request are short).
"""

from __future__ import annotations

import hashlib
import threading

from . import _conf as conf
from .exceptions import HubbubError

# What a refused client is told to wait before trying again, in seconds: streams end all the
# time (closed tabs, the maximum lifetime), so a slot is usually free by then.
RETRY_AFTER_SECONDS = 10

TOTAL = "total"


class TooManyConnections(HubbubError):
    """A limit on open streams is reached (HTTP 429 with ``Retry-After``)."""

    status = 429

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.retry_after = RETRY_AFTER_SECONDS


class Lease:
    """The slots one stream holds; ``release`` gives them back, once, however often it is called."""

    __slots__ = ("_counter", "_keys")

    def __init__(self, counter: ConnectionCounter, keys: tuple[str, ...]) -> None:
        self._counter = counter
        self._keys: tuple[str, ...] | None = keys

    def release(self) -> None:
        keys, self._keys = self._keys, None
        if keys is not None:
            self._counter._release(keys)


class ConnectionCounter:
    """Open streams per key (``total``, ``ip:<address>``, ``user:<pk>``, ``token:<digest>``)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        # Taken from event loops only, but a process may run more than one (tests, threads).
        self._lock = threading.Lock()

    def count(self, key: str) -> int:
        return self._counts.get(key, 0)

    def acquire(self, *, address: str | None = None, user: str | None = None, token: str | None = None) -> Lease:
        """A lease on one stream for this client, or ``TooManyConnections`` saying which limit it reached."""
        per_user = conf.get("HUBBUB_MAX_CONNECTIONS_PER_USER")
        wanted: list[tuple[str, int | None, str]] = [(TOTAL, conf.get("HUBBUB_MAX_CONNECTIONS"), "on this server")]
        if address is not None:
            wanted.append((f"ip:{address}", conf.get("HUBBUB_MAX_CONNECTIONS_PER_IP"), f"from {address}"))
        if user is not None:
            wanted.append((f"user:{user}", per_user, "for this user"))
        if token is not None:
            wanted.append((f"token:{token_digest(token)}", per_user, "with this token"))
        with self._lock:
            counts = self._counts
            for key, limit, whose in wanted:
                if limit is not None and counts.get(key, 0) >= limit:
                    raise TooManyConnections(
                        f"too many open streams {whose} (limit {limit}); retry in {RETRY_AFTER_SECONDS} s"
                    )
            keys = tuple(key for key, _, _ in wanted)
            for key in keys:
                counts[key] = counts.get(key, 0) + 1
        return Lease(self, keys)

    def _release(self, keys: tuple[str, ...]) -> None:
        with self._lock:
            counts = self._counts
            for key in keys:
                left = counts[key] - 1
                if left:
                    counts[key] = left
                else:
                    del counts[key]


def token_digest(token: str) -> str:
    """What tells tokens apart in the counts, without keeping them."""
    return hashlib.blake2b(token.encode(), digest_size=16).hexdigest()


# This process's counts.
connections = ConnectionCounter()
