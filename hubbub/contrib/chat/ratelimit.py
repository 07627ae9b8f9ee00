"""The chat's rate limits: a fixed-window counter in Django's cache, at most ``limit`` hits per
``period`` seconds under one key.

Every limit of the chat is counted here: posting (``CHAT_RATE_LIMIT``), typing notices
(``CHAT_TYPING_RATE_LIMIT``), sign-in attempts (``CHAT_SIGNIN_RATE_LIMIT``), guest sign-ups
(``CHAT_SIGNUP_RATE_LIMIT``), presence (``CHAT_PRESENCE_RATE_LIMIT``) and read markers
(``CHAT_READ_RATE_LIMIT``). Over a limit, a view
answers 429 with ``Retry-After``; when the cache cannot be reached nothing can be counted, and
the view answers 503 (``Unavailable``) rather than letting everything through.
"""

from __future__ import annotations

import time

from django.core.cache import cache

from . import conf


class Unavailable(Exception):
    """The cache that keeps the counts could not be reached: the request cannot be counted (HTTP 503)."""

    def __init__(self, cause: BaseException) -> None:
        detail = str(cause).splitlines()[0] if str(cause) else ""
        cause_text = f"{type(cause).__name__}: {detail}" if detail else type(cause).__name__
        super().__init__(
            f"the server cannot check its rate limits now, its cache is unreachable ({cause_text}). Try again shortly."
        )


class Exceeded(Exception):
    """Over a limit: ``retry_after`` seconds until the window ends (HTTP 429 with ``Retry-After``)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


def hit(key: str, limit: int, period: int) -> int | None:
    """Count one hit; returns None if it is allowed, else the seconds until the window ends.
    Raises Unavailable when the cache cannot be reached."""
    now = time.time()
    window = int(now // period)
    cache_key = f"hubbub_chat:rate:{key}:{window}"
    try:
        count = _count(cache_key, period)
    except Exception as error:  # any cache backend's connection error: Redis', memcached's...
        raise Unavailable(error) from error
    if count <= limit:
        return None
    return max(1, int((window + 1) * period - now + 0.999))


def _count(cache_key: str, period: int) -> int:
    cache.add(cache_key, 0, timeout=period + 1)
    try:
        return cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=period + 1)
        return 1


def limit(setting: str, *keys: str) -> None:
    """Count one request under each key against the limit ``setting`` names, ``(count, seconds)``.

    Raises Exceeded (with the longest wait) when any key is over it, Unavailable when the cache
    cannot be reached."""
    count, period = conf.get(setting)
    waits = [wait for key in keys if (wait := hit(f"{setting}:{key}", count, period)) is not None]
    if waits:
        raise Exceeded(max(waits))
