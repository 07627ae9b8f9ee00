"""The systems under test: how each is prepared, started on a free port, pinned, and stopped."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import psycopg

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
POSTGRES = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"
PUBLISHER_KEY = "bench-publisher-key-0123456789abcdef0123456789"
UVICORN_OPTIONS = [
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--lifespan",
    "off",
    "--no-access-log",
    "--log-level",
    "warning",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "HUBBUB_")) and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env["PYTHONPATH"] = str(ROOT)
    return env


@dataclass
class Running:
    """A started server: its process (the root of the tree whose CPU and RSS are measured)."""

    port: int
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@dataclass
class System:
    """One system under test. ``prepare`` runs once per suite run, ``start`` once per scenario."""

    name: str
    label: str
    subscribe_path: str
    publish_path: str
    authorization: str | None = None
    has_topics: bool = True
    max_subscribers: int | None = None
    workers: int = 1
    transport: str = "sse"  # or "ws": the load generator's subscribers open ``ws_path`` instead
    ws_path: str | None = None
    publish_body: str = "form"  # or "raw": the data alone, to a ``publish_path`` that names the topic
    env: dict[str, str] = field(default_factory=dict)
    workdir: Path | None = None
    database: str | None = None

    def prepare(self, workdir: Path) -> None:
        self.workdir = workdir / self.name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = base_env()

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def start(self, cpus: str) -> Running:
        assert self.workdir is not None, "prepare() first"
        port = free_port()
        env = {**self.env, "PORT": str(port)}
        log = self.workdir / f"server-{port}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(
                ["taskset", "-c", cpus, *self.command(port)],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=raise_open_files_limit,
            )
        running = Running(port, process, log)
        wait_for_port(running)
        return running

    def cleanup(self) -> None:
        pass


def raise_open_files_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def wait_for_port(running: Running, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise RuntimeError(
                f"server exited with {running.process.returncode}; log: {running.log}\n"
                f"{running.log.read_text()[-2000:]}"
            )
        try:
            with socket.create_connection(("127.0.0.1", running.port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {running.port} within {timeout}s")


def publisher_token() -> str:
    return jwt.encode({"mercure": {"publish": ["*"]}}, PUBLISHER_KEY, algorithm="HS256")


class Hubbub(System):
    """Hubbub, served by its ``serve`` command (uvicorn), or by granian or daphne to compare servers."""

    def __init__(
        self, name: str, label: str, *, redis: bool, workers: int = 1, server: str = "serve", transport: str = "sse"
    ) -> None:
        super().__init__(
            name,
            label,
            subscribe_path="/.well-known/mercure?topic={topic}",
            publish_path="/.well-known/mercure",
            authorization=publisher_token(),
            workers=workers,
            transport=transport,
            ws_path="/.well-known/mercure",
        )
        self.redis = redis
        self.server = server

    def prepare(self, workdir: Path) -> None:
        super().prepare(workdir)
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "example.settings",
                "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789abcdef",
                "HUBBUB_VAR_DIR": str(self.workdir),
                "HUBBUB_PUBLISHER_JWT_KEY": PUBLISHER_KEY,
                "HUBBUB_HISTORY_MAX_COUNT": "1000000",
                # Every subscriber of the load generator comes from 127.0.0.1.
                "HUBBUB_MAX_CONNECTIONS": "0",
                "HUBBUB_MAX_CONNECTIONS_PER_IP": "0",
                "LOG_LEVEL": "WARNING",
            }
        )
        if self.redis:
            self.database = f"hubbub_bench_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{self.database}"')
            self.env["DATABASE_URL"] = f"{POSTGRES}/{self.database}"
            self.env["REDIS_URL"] = REDIS_URL
            self.env["HUBBUB_REDIS_PREFIX"] = f"hubbub-bench-{uuid.uuid4().hex[:8]}"
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=self.env, cwd=ROOT, check=True)

    def command(self, port: int) -> list[str]:
        app = "example.asgi:application"
        if self.server == "granian":
            return [
                PYTHON,
                "-m",
                "granian",
                "--interface",
                "asgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--loop",
                "uvloop",
                "--no-ws",
                app,
            ]
        if self.server == "daphne":
            return [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
        return [
            PYTHON,
            "manage.py",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(self.workers),
            "--graceful-timeout",
            "1",
        ]

    def cleanup(self) -> None:
        if self.database:
            with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self.database = None


class Uvicorn(System):
    """A baseline served by uvicorn with the same options as Hubbub's ``serve``."""

    def __init__(
        self,
        name: str,
        label: str,
        app: str,
        *,
        settings: str | None = None,
        extra_env: dict[str, str] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(name, label, **kwargs)
        self.app = app
        self.settings = settings
        self.extra_env = extra_env or {}

    def prepare(self, workdir: Path) -> None:
        super().prepare(workdir)
        if self.settings:
            self.env["DJANGO_SETTINGS_MODULE"] = self.settings
        self.env.update(self.extra_env)

    def command(self, port: int) -> list[str]:
        return [PYTHON, "-m", "uvicorn", self.app, "--host", "127.0.0.1", "--port", str(port), *UVICORN_OPTIONS]


class Polling(Uvicorn):
    """The tutorial's chat stream; a fresh SQLite database for every start (it replays the whole table)."""

    def start(self, cpus: str) -> Running:
        assert self.workdir is not None
        path = Path(tempfile.mkstemp(suffix=".sqlite3", dir=self.workdir)[1])
        path.unlink()
        self.env["BENCH_SQLITE_PATH"] = str(path)
        subprocess.run([PYTHON, "-m", "django", "migrate", "--run-syncdb", "-v0"], env=self.env, cwd=ROOT, check=True)
        return super().start(cpus)


NGINX = "/usr/sbin/nginx"
NCHAN_MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so"
NCHAN_CONFIG = """\
load_module {module};
daemon off;
master_process on;
worker_processes 1;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
worker_rlimit_nofile {nofile};
events {{
    worker_connections {connections};
}}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 10000000;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        # An EventSource subscriber writes ": hi" as soon as it is subscribed: the load
        # generator's "first body bytes" (and, as for the others, no replay of older messages).
        location ~ ^/sub/(.+)$ {{
            nchan_subscriber eventsource;
            nchan_channel_id $1;
            nchan_subscriber_first_message newest;
        }}
        location ~ ^/pub/(.+)$ {{
            nchan_publisher;
            nchan_channel_id $1;
        }}
    }}
}}
"""


class Nchan(System):
    """nginx with the nchan module (Debian's ``libnginx-mod-nchan``): one worker, in-memory channels.

    The C server people put in front of Django for this job: the native baseline. Its own
    prefix, configuration, pid and logs under the run's work directory (never the system's
    nginx); installed with apt on first use when missing (root, or sudo).
    """

    def __init__(self) -> None:
        super().__init__(
            "nchan",
            "nginx + nchan, 1 worker",
            subscribe_path="/sub/{topic}",
            publish_path="/pub/{topic}",
            publish_body="raw",
        )

    def prepare(self, workdir: Path) -> None:
        super().prepare(workdir)
        if not (os.path.exists(NGINX) and os.path.exists(NCHAN_MODULE)):
            print("    installing nginx-light and libnginx-mod-nchan (apt)", flush=True)
            root = [] if os.getuid() == 0 else ["sudo"]
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run([*root, "apt-get", "update", "-qq"], check=True, env=env)
            subprocess.run(
                [*root, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq"]
                + ["nginx-light", "libnginx-mod-nchan"],
                check=True,
                env=env,
                stdout=subprocess.DEVNULL,
            )

    def command(self, port: int) -> list[str]:
        assert self.workdir is not None
        prefix = self.workdir / f"nginx-{port}"
        shutil.rmtree(prefix, ignore_errors=True)
        prefix.mkdir()
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        config = prefix / "nginx.conf"
        config.write_text(
            NCHAN_CONFIG.format(
                module=NCHAN_MODULE,
                user="user root;" if os.getuid() == 0 else "",
                dir=prefix,
                nofile=hard,
                connections=max(1024, hard - 64),
                port=port,
            )
        )
        return [NGINX, "-p", str(prefix), "-c", str(config), "-e", str(prefix / "error.log")]


def all_systems() -> dict[str, System]:
    systems: list[System] = [
        Uvicorn(
            "ceiling",
            "Starlette ceiling",
            "bench.baselines.ceiling:app",
            subscribe_path="/events?topic={topic}",
            publish_path="/publish",
        ),
        Hubbub("hubbub-embedded", "Hubbub embedded (SQLite + in-memory)", redis=False),
        Hubbub("hubbub-redis", "Hubbub on Redis + PostgreSQL", redis=True),
        Hubbub("hubbub-embedded-ws", "Hubbub embedded, subscribers over WebSocket", redis=False, transport="ws"),
        Hubbub("hubbub-redis-ws", "Hubbub on Redis + PostgreSQL, over WebSocket", redis=True, transport="ws"),
        Hubbub("hubbub-redis-2w", "Hubbub on Redis + PostgreSQL, 2 workers", redis=True, workers=2),
        Hubbub("hubbub-redis-4w", "Hubbub on Redis + PostgreSQL, 4 workers", redis=True, workers=4),
        Hubbub("hubbub-redis-8w", "Hubbub on Redis + PostgreSQL, 8 workers", redis=True, workers=8),
        Hubbub("hubbub-embedded-granian", "Hubbub embedded, served by granian", redis=False, server="granian"),
        Hubbub("hubbub-embedded-daphne", "Hubbub embedded, served by daphne", redis=False, server="daphne"),
        Nchan(),
        Uvicorn(
            "channels-redis",
            "Channels view, channels_redis pub/sub",
            "bench.baselines.channels_view.asgi:application",
            settings="bench.baselines.channels_view.settings",
            extra_env={
                "BENCH_CHANNEL_LAYER": "redis",
                "REDIS_URL": REDIS_URL,
                "BENCH_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
            },
            subscribe_path="/events?topic={topic}",
            publish_path="/publish",
        ),
        Uvicorn(
            "channels-memory",
            "Channels view, in-memory layer",
            "bench.baselines.channels_view.asgi:application",
            settings="bench.baselines.channels_view.settings",
            extra_env={"BENCH_CHANNEL_LAYER": "memory"},
            subscribe_path="/events?topic={topic}",
            publish_path="/publish",
        ),
        Uvicorn(
            "eventstream",
            "django-eventstream",
            "bench.baselines.eventstream_view.asgi:application",
            settings="bench.baselines.eventstream_view.settings",
            subscribe_path="/events/?channel={topic}",
            publish_path="/publish",
        ),
        Polling(
            "polling",
            "tutorial's polling chat stream",
            "bench.baselines.polling.asgi:application",
            settings="bench.baselines.polling.settings",
            subscribe_path="/stream-chat-messages/",
            publish_path="/publish",
            has_topics=False,
            max_subscribers=200,
        ),
    ]
    return {system.name: system for system in systems}
