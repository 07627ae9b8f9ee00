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

    def sockets_by_worker(self) -> dict[int, tuple[int, int]]:
        """For each worker process listening at this server's port (the server's children; the
        server itself with one worker): how many sockets it listens on there, and how many
        connections it holds there (read from ``/proc``)."""
        workers = _children(self.process.pid) or [self.process.pid]
        states: dict[str, str] = {}
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == self.port:
                states[fields[9]] = fields[3]
        counts = {}
        for pid in workers:
            held = [states.get(_socket_inode(fd)) for fd in Path(f"/proc/{pid}/fd").iterdir()]
            if "0A" in held:  # LISTEN; not multiprocessing's resource tracker
                counts[pid] = (held.count("0A"), held.count("01"))  # ESTABLISHED
        return counts

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


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return [int(child) for task in tasks for child in (task / "children").read_text().split()]


def _socket_inode(fd: Path) -> str:
    try:
        target = os.readlink(fd)
    except OSError:  # closed meanwhile
        return ""
    return target[len("socket:[") : -1] if target.startswith("socket:[") else ""


def server_env(var_dir: Path) -> dict[str, str]:
    """The environment of a test's server: this process's, minus its Django, Hubbub and pytest
    variables, plus the example settings' fixed keys."""
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
            # Every browser of the suite signs up from 127.0.0.1.
            "CHAT_SIGNUP_RATE_LIMIT": "1000,60",
            "CHAT_SIGNIN_RATE_LIMIT": "1000,300",
        }
    )
    return env


def deployment(kind: str, var_dir: Path) -> Deployment:
    """A migrated deployment of the given kind ('embedded' or 'scaled')."""
    var_dir.mkdir(parents=True, exist_ok=True)
    env = server_env(var_dir)
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


def postgres_binary(name: str) -> str:
    """A PostgreSQL server program (``initdb``, ``postgres``): on the PATH, else Debian's."""
    import glob
    import shutil

    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"no PostgreSQL {name} on the PATH nor in /usr/lib/postgresql/*/bin (scripts/services)")
    return found


def _unprivileged() -> dict[str, int]:
    """``subprocess`` arguments that run PostgreSQL as an ordinary user: it refuses to run as
    root, so a root test run hands it to the ``postgres`` OS user (else ``nobody``)."""
    if os.geteuid() != 0:
        return {}
    import pwd

    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": entry.pw_uid, "group": entry.pw_gid}
    raise RuntimeError("running as root, and neither a postgres nor a nobody user to run PostgreSQL as")


class PostgresProcess:
    """A PostgreSQL server of the test's own (``initdb`` in a temporary directory, trust
    authentication, on a free port of 127.0.0.1) that a test may crash and start again.

    ``copy_of`` starts from another, stopped, instance's files (a migrated template) rather
    than from an empty cluster."""

    def __init__(self, copy_of: PostgresProcess | None = None) -> None:
        import tempfile

        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.user = _unprivileged()
        self.dir = Path(tempfile.mkdtemp(prefix="hubbub-postgres-"))
        self.data = self.dir / "data"
        if self.user:
            os.chown(self.dir, self.user["user"], self.user["group"])
        if copy_of is not None:
            subprocess.run(["cp", "-a", str(copy_of.data), str(self.data)], check=True, timeout=60)
        else:
            subprocess.run(
                [postgres_binary("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8"],
                check=True,
                capture_output=True,
                timeout=60,
                **self.user,
            )

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and return once it accepts connections (after crash recovery)."""
        command = [postgres_binary("postgres"), "-D", str(self.data), "-p", str(self.port)]
        command += ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}"]
        log = open(self.dir / "postgres.log", "a")
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **self.user
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.process.returncode}: see {self.dir / 'postgres.log'}")
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def crash(self) -> None:
        """Stop at once, as ``pg_ctl stop -m immediate`` does (SIGQUIT to the postmaster): no
        checkpoint, connections dropped; the next start recovers from the write-ahead log."""
        self._signal(signal.SIGQUIT)

    def stop(self) -> None:
        """A fast shutdown (SIGINT); SIGKILL if it has not stopped within 10 s."""
        self._signal(signal.SIGINT)

    def _signal(self, signum: int) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def remove(self) -> None:
        """Stop, then delete the files."""
        import shutil

        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def own_deployment(name: str, var_dir: Path, database_url: str, redis_url: str, **settings: str) -> Deployment:
    """A deployment on PostgreSQL and Redis servers of the test's own (already migrated, not
    dropped on stop), with the example settings from the environment as ``deployment`` sets
    them; ``settings`` are more environment variables (HUBBUB_REDIS_PREFIX is not set unless
    given)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    env = {**server_env(var_dir), "DATABASE_URL": database_url, "REDIS_URL": redis_url, **settings}
    return Deployment(name, env, var_dir)
