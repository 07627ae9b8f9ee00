"""The fault suite's servers: per test module its own PostgreSQL and Redis, which its test
may crash, stall and start again, and deployments of two servers on them; and the report of
each run's figures at the end of the pytest run (and in ``faults-summary.txt`` of its
temporary directory)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests import servers

_LINES = pytest.StashKey[list[str]]()
_FILE = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: the fault suite (tests/faults): real servers, faults injected")
    config.stash[_LINES] = []


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    lines = config.stash.get(_LINES, [])
    if not lines:
        return
    terminalreporter.section("fault suite: per run")
    for line in lines:
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"(written to {config.stash[_FILE]})")


@pytest.fixture(autouse=True)
def quiet_httpx() -> Iterator[None]:
    """Thousands of requests per run: httpx's log line per request would bury a failure's report."""
    logger = logging.getLogger("httpx")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


@pytest.fixture
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], None]:
    """Record a run's one-line summary for the end of the pytest run and its summary file."""
    config = request.config

    def add(line: str) -> None:
        print(line)
        config.stash[_LINES].append(line)
        path = config.stash[_FILE] = tmp_path_factory.getbasetemp() / "faults-summary.txt"
        with path.open("a") as summary:
            summary.write(line + "\n")

    return add


@pytest.fixture(scope="module")
def postgres() -> Iterator[servers.PostgresProcess]:
    """A PostgreSQL server of this module's own, on a free port."""
    server = servers.PostgresProcess()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="module")
def redis() -> Iterator[servers.RedisProcess]:
    """A Redis server of this module's own, on a free port."""
    server = servers.RedisProcess()
    try:
        server.start()
        yield server
    finally:
        server.stop()


Deploy = Callable[..., servers.Deployment]


@pytest.fixture(scope="module")
def deploy(postgres: servers.PostgresProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deploy]:
    """``deploy(name, redis_url, database="hubbub", second_env=None, **settings)``: a migrated
    database on the module's PostgreSQL, and two servers of one deployment on it: the first
    with two worker processes, the second with one (and ``second_env`` in its environment)."""
    made: list[servers.Deployment] = []

    def deploy(
        name: str,
        redis_url: str,
        database: str = "hubbub",
        second_env: dict[str, str] | None = None,
        **settings: str,
    ) -> servers.Deployment:
        with psycopg.connect(postgres.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
        deployment = servers.own_deployment(
            name, tmp_path_factory.mktemp(name), postgres.url(database), redis_url, **settings
        )
        made.append(deployment)
        deployment.manage("migrate", "--noinput", "-v0")
        deployment.start(workers=2)
        deployment.start(workers=1, extra_env=second_env)
        return deployment

    try:
        yield deploy
    finally:
        for deployment in made:
            deployment.stop()
