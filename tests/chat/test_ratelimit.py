import pytest
from django.core.cache import cache

from hubbub.contrib.chat import ratelimit


def test_hits_within_the_limit_pass_then_the_wait_is_given():
    cache.clear()
    assert [ratelimit.hit("k", 3, 60) for _ in range(3)] == [None, None, None]
    wait = ratelimit.hit("k", 3, 60)
    assert wait is not None and 1 <= wait <= 60
    assert ratelimit.hit("other", 3, 60) is None


def test_the_next_window_starts_afresh(monkeypatch):
    cache.clear()
    now = [1000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    assert ratelimit.hit("k", 1, 10) is None
    assert ratelimit.hit("k", 1, 10) == 10
    now[0] = 1010.0
    assert ratelimit.hit("k", 1, 10) is None


def test_limit_counts_each_key_and_gives_the_longest_wait(settings, monkeypatch):
    cache.clear()
    now = [1000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    settings.CHAT_SIGNIN_RATE_LIMIT = (1, 60)
    ratelimit.limit("CHAT_SIGNIN_RATE_LIMIT", "address:a", "name:x")
    with pytest.raises(ratelimit.Exceeded) as over:
        ratelimit.limit("CHAT_SIGNIN_RATE_LIMIT", "address:b", "name:x")
    assert over.value.retry_after == 20  # the window of 60 s ends at 1020
    ratelimit.limit("CHAT_SIGNIN_RATE_LIMIT", "address:c", "name:y")
    settings.CHAT_PRESENCE_RATE_LIMIT = (1, 60)
    ratelimit.limit("CHAT_PRESENCE_RATE_LIMIT", "address:a")  # each setting counts apart


def test_a_cache_that_cannot_be_reached_is_unavailable_in_one_line(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    with pytest.raises(ratelimit.Unavailable) as down:
        ratelimit.hit("k", 3, 60)
    message = str(down.value)
    assert message.startswith("the server cannot check its rate limits now, its cache is unreachable (ConnectionError")
    assert "\n" not in message
