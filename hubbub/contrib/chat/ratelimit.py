"""A fixed-window counter in Django's cache: at most ``limit`` hits per ``period`` seconds."""

from __future__ import annotations

import time

from django.core.cache import cache


def hit(key: str, limit: int, period: int) -> int | None:
    """Count one hit; returns None if it is allowed, else the seconds until the window ends."""
    now = time.time()
    window = int(now // period)
    cache_key = f"hubbub_chat:rate:{key}:{window}"
    cache.add(cache_key, 0, timeout=period + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=period + 1)
        count = 1
    if count <= limit:
        return None
    return max(1, int((window + 1) * period - now + 0.999))
