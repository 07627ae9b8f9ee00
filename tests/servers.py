"""Real server processes for tests that talk HTTP: embedded (SQLite + in-memory) or scaled (PostgreSQL + Redis)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PUBLISHER_KEY = "publisher-key-for-live-tests-0123456789abcdef"
SUBSCRIBER_KEY = "subscriber-key-for-live-tests-0123456789abcdef"
POSTGRES = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"


def run_id() -> str:
    """This test run's own name (tests/settings.py draws it): databases and Redis prefixes of
    the run carry it, so that concurrent runs on one machine never share nor drop them."""
    return os.environ.setdefault("HUBBUB_TEST_RUN_ID", f"{os.getpid()}_{uuid.uuid4().hex[:8]}")


def unique_name(kind: str) -> str:
    """A name of this run's for a database (``kind`` "db") or a Redis prefix ("redis")."""
    if kind == "db":
        return f"hubbub_test_{run_id()}_{uuid.uuid4().hex[:8]}"
    return f"hubbub-test-{run_id()}-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process_group(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM to a server started with ``start_new_session=True`` and its children, then SIGKILL
    if it has not stopped within ``timeout``."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} within {timeout}s")


@dataclass
class Deployment:
    """What servers of one configuration share: a database and, when scaled, a Redis prefix."""

    name: str
    env: dict[str, str]
    var_dir: Path
    database: str | None = None
    redis_prefix: str | None = None
    servers: list[Server] = field(default_factory=list)

    def manage(
        self, *args: str, input: str | None = None, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=env or self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            input=input,
            check=check,
            timeout=60,
        )

    def start(self, workers: int = 1, extra_env: dict[str, str] | None = None) -> Server:
        port = free_port()
        env = {**self.env, "PORT": str(port), **(extra_env or {})}
        log = open(self.var_dir / f"server-{port}.log", "w")
        serve = ["serve", "--port", str(port), "--workers", str(workers), "--graceful-timeout", "1"]
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *serve],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(port, process)
        server = Server(self, port, process, env, self.var_dir / f"server-{port}.log")
        self.servers.append(server)
        return server

    def stop(self) -> None:
        """Stop the servers, then drop what this deployment made on the shared servers."""
        try:
            for server in self.servers:
                server.stop()
        finally:
            if self.database:
                drop_database(self.database)
            if self.redis_prefix:
                delete_redis_keys(self.redis_prefix)


@dataclass
class Server:
    deployment: Deployment
    port: int
    process: subprocess.Popen
    env: dict[str, str]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hub(self) -> str:
        return f"{self.url}/.well-known/mercure"

    def manage(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run a management command as another process of this server's deployment."""
        return self.deployment.manage(*args, input=input, check=check, env=self.env)

    def stop(self) -> None:
        stop_process_group(self.process)

    def restart(self) -> Server:
        """Stop this server and start another on the same port and deployment."""
        self.stop()
        self.deployment.servers.remove(self)
        log = open(self.log, "a")
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "serve", "--port", str(self.port), "--graceful-timeout", "1"],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, process)
        server = Server(self.deployment, self.port, process, self.env, self.log)
        self.deployment.servers.append(server)
        return server


def deployment(kind: str, var_dir: Path) -> Deployment:
    """A migrated deployment of the given kind ('embedded' or 'scaled')."""
    var_dir.mkdir(parents=True, exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "HUBBUB_", "PYTEST_")) and key not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "example.settings",
            "SECRET_KEY": "live-test-secret-key-0123456789abcdef0123456789",
            "HUBBUB_VAR_DIR": str(var_dir),
            "HUBBUB_PUBLISHER_JWT_KEY": PUBLISHER_KEY,
            "HUBBUB_SUBSCRIBER_JWT_KEY": SUBSCRIBER_KEY,
            "LOG_LEVEL": "WARNING",
        }
    )
    result = Deployment(kind, env, var_dir)
    if kind == "scaled":
        result.database = unique_name("db")
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{result.database}"')
        result.redis_prefix = unique_name("redis")
        env["DATABASE_URL"] = f"{POSTGRES}/{result.database}"
        env["REDIS_URL"] = REDIS_URL
        env["HUBBUB_REDIS_PREFIX"] = result.redis_prefix
    elif kind != "embedded":
        raise ValueError(kind)
    try:
        result.manage("migrate", "--noinput", "-v0")
    except BaseException:
        result.stop()
        raise
    return result


def drop_database(name: str) -> None:
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_redis_keys(prefix: str) -> None:
    """Delete the keys a deployment left in the shared Redis (its cache: chat's rate limits)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


class RedisProcess:
    """A Redis server of the test's own, on a free port, that a test may stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
