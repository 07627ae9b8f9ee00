"""Connection limits of a worker process: counted per key, refused with a reason, released once."""

import pytest

from hubbub import _limits as limits


@pytest.fixture
def counter(settings):
    settings.HUBBUB_MAX_CONNECTIONS = 5
    settings.HUBBUB_MAX_CONNECTIONS_PER_IP = 3
    settings.HUBBUB_MAX_CONNECTIONS_PER_USER = 2
    return limits.ConnectionCounter()


def test_each_stream_counts_once_in_all_and_per_client(counter):
    lease = counter.acquire(address="192.0.2.1", user="7", token="a.b.c")
    digest = limits.token_digest("a.b.c")
    assert [counter.count(key) for key in ("total", "ip:192.0.2.1", "user:7", f"token:{digest}")] == [1, 1, 1, 1]
    lease.release()
    assert [counter.count(key) for key in ("total", "ip:192.0.2.1", "user:7", f"token:{digest}")] == [0, 0, 0, 0]
    assert counter._counts == {}  # nothing kept for clients gone


def test_a_lease_is_released_once_however_often_it_is_released(counter):
    leases = [counter.acquire(address="192.0.2.1") for _ in range(2)]
    leases[0].release()
    leases[0].release()
    assert counter.count("ip:192.0.2.1") == 1 and counter.count("total") == 1
    leases[1].release()
    assert counter.count("total") == 0


def test_the_limit_per_address(counter):
    for _ in range(3):
        counter.acquire(address="192.0.2.1")
    with pytest.raises(limits.TooManyConnections) as refused:
        counter.acquire(address="192.0.2.1")
    assert str(refused.value) == "too many open streams from 192.0.2.1 (limit 3); retry in 10 s"
    assert (refused.value.status, refused.value.retry_after) == (429, 10)
    counter.acquire(address="192.0.2.2")  # another address
    assert counter.count("total") == 4  # the refused one took nothing


def test_the_limit_per_user_and_per_token(counter):
    for _ in range(2):
        counter.acquire(address="192.0.2.1", user="7")
    with pytest.raises(limits.TooManyConnections, match="for this user"):
        counter.acquire(address="192.0.2.2", user="7")
    for _ in range(2):
        counter.acquire(token="token-1")
    with pytest.raises(limits.TooManyConnections, match="with this token"):
        counter.acquire(token="token-1")
    counter.acquire(token="token-2")


def test_the_limit_in_all(counter):
    leases = [counter.acquire(address=f"192.0.2.{n}") for n in range(5)]
    with pytest.raises(limits.TooManyConnections, match="on this server"):
        counter.acquire()
    leases[0].release()
    counter.acquire()


def test_none_turns_a_limit_off(counter, settings):
    settings.HUBBUB_MAX_CONNECTIONS = None
    settings.HUBBUB_MAX_CONNECTIONS_PER_IP = None
    for _ in range(10):
        counter.acquire(address="192.0.2.1")
    assert counter.count("ip:192.0.2.1") == 10
