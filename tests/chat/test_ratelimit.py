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
