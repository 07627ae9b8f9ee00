"""The hub's management commands: ``runserver`` (the development server, ASGI), ``publish``
(from another process, through the running server) and ``serve`` (production workers).

The runserver and serve tests start real processes: the demo site's settings
(``embedded_deployment``: SQLite, the in-memory layer, keys from the environment) and a
project on the library's defaults, as ``django-admin startproject`` makes one (no
CHANNEL_LAYERS, no ASGI_APPLICATION, keys derived from SECRET_KEY).
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.core.management import CommandError, call_command

from hubbub import _publishing as publishing, _server, _tokens as tokens
from hubbub.management.commands import serve
from hubbub.models import StoredUpdate
from tests import servers, sse
from tests.hubbub.server import body_of, connect, read_until_closed, status_of
from tests.servers import ROOT, free_port, wait_for_port

# A project as `django-admin startproject` makes it, plus hubbub before staticfiles, and a
# view that publishes.
PLAIN_SETTINGS = """
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "plain-project-secret-key-0123456789-0123456789-abcdef"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "hubbub",
    "django.contrib.staticfiles",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "plainsite.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
STATIC_URL = "static/"
USE_TZ = True
"""

PLAIN_URLS = """
from django.http import HttpResponse
from django.urls import path

import hubbub


def publish(request):
    return HttpResponse(hubbub.publish("/plain", request.GET.get("data", "")))


urlpatterns = [path("publish/", publish)]
"""


@dataclass
class Project:
    folder: Path
    env: dict[str, str]

    def manage(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env={**self.env, **(extra_env or {})},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture(scope="module")
def plain_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    folder = tmp_path_factory.mktemp("plain")
    (folder / "plainsite").mkdir()
    (folder / "plainsite" / "__init__.py").write_text("")
    (folder / "plainsite" / "settings.py").write_text(PLAIN_SETTINGS)
    (folder / "plainsite" / "urls.py").write_text(PLAIN_URLS)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "HUBBUB_", "PYTEST_")) and key not in ("PORT", "DATABASE_URL", "REDIS_URL")
    }
    env.update(DJANGO_SETTINGS_MODULE="plainsite.settings", PYTHONPATH=os.pathsep.join([str(folder), str(ROOT)]))
    project = Project(folder, env)
    migrated = project.manage("migrate", "--noinput", "-v0")
    assert migrated.returncode == 0, migrated.stderr
    return project


class DevServer:
    """``manage.py runserver 127.0.0.1:<free port>`` in a session of its own."""

    def __init__(self, env: dict[str, str], *args: str, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "runserver", f"127.0.0.1:{self.port}", *args],
            env=env,
            cwd=ROOT,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port(self.port, self.process)
        except RuntimeError as error:
            self.kill()
            raise AssertionError(f"{error}:\n{self.output()}") from None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hub(self) -> str:
        return f"{self.url}/.well-known/mercure"

    def output(self) -> str:
        return self.log.read_text()

    def stop(self, signum: int) -> int:
        """Send ``signum`` as a terminal's Ctrl-C does (to the whole process group); the exit status."""
        os.killpg(self.process.pid, signum)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"runserver did not stop on {signal.Signals(signum).name}:\n{self.output()}") from None

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def dev_servers(tmp_path: Path) -> Iterator[list[DevServer]]:
    started: list[DevServer] = []
    yield started
    for server in started:
        server.kill()


def is_event_stream(stream: sse.Stream) -> bool:
    return stream.status == 200 and stream.response.headers["content-type"].startswith("text/event-stream")


async def huge_head(port: int) -> bytes:
    """The answer to a request with a 1 MB header (sent while the answer is read)."""
    client = await connect(port)
    loop = asyncio.get_running_loop()
    sending = asyncio.ensure_future(
        loop.sock_sendall(client, b"GET /.well-known/mercure?topic=t HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 2**20)
    )
    try:
        return await read_until_closed(client, 10)
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        client.close()


async def test_runserver_serves_the_hub_static_files_and_what_manage_publish_sends(
    embedded_deployment, dev_servers, tmp_path
):
    """The demo's settings, without autoreload, DEBUG on; stopped with SIGTERM while a page listens."""
    env = {**embedded_deployment.env, "DEBUG": "1"}
    server = DevServer(env, "--noreload", log=tmp_path / "runserver.log")
    dev_servers.append(server)
    token = tokens.mint(servers.PUBLISHER_KEY, publish=["*"])
    async with sse.subscribe(server.hub, "/runserver") as stream, httpx.AsyncClient(timeout=10) as client:
        assert is_event_stream(stream)

        answer = await client.post(
            server.hub, data={"topic": "/runserver", "data": "over HTTP"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200
        event = await stream.next(timeout=10)
        assert (event.id, event.data) == (answer.text.strip(), "over HTTP")

        published = await asyncio.to_thread(
            embedded_deployment.manage,
            "publish",
            "--topic",
            "/runserver",
            "--data",
            "from manage.py",
            env={**env, "PORT": str(server.port)},
        )
        event = await stream.next(timeout=10)
        assert (event.id, event.data) == (published.stdout.strip(), "from manage.py")

        static = await client.get(f"{server.url}/static/hubbub/hubbub.js")
        assert static.status_code == 200
        assert "javascript" in static.headers["content-type"]

        refused = await huge_head(server.port)  # the hub's own HTTP protocol
        assert status_of(refused) == 431 and body_of(refused) == b"the request head exceeds 65536 bytes\n"

        started = time.monotonic()
        assert await asyncio.to_thread(server.stop, signal.SIGTERM) == 0
        assert time.monotonic() - started < 10  # open streams are closed, not waited for
        with pytest.raises((EOFError, httpx.HTTPError)):
            await stream.next(timeout=5)
    assert "Starting development server at http://127.0.0.1:" in server.output()


async def test_runserver_with_autoreload_in_a_project_on_library_defaults(plain_project, dev_servers, tmp_path):
    """No CHANNEL_LAYERS, no ASGI_APPLICATION, no keys: runserver still serves the hub, a view's
    publish and manage.py publish reach the page, and a code change reloads the server."""
    server = DevServer(plain_project.env, log=tmp_path / "runserver.log")
    dev_servers.append(server)
    async with sse.subscribe(server.hub, "/plain") as stream, httpx.AsyncClient(timeout=10) as client:
        assert is_event_stream(stream)

        answer = await client.get(f"{server.url}/publish/", params={"data": "from a view"})
        assert answer.status_code == 200
        event = await stream.next(timeout=10)
        assert (event.id, event.data) == (answer.text, "from a view")

        published = await asyncio.to_thread(
            plain_project.manage,
            "publish",
            "--topic",
            "/plain",
            "--data",
            "relayed",
            extra_env={"PORT": str(server.port)},
        )
        assert published.returncode == 0, published.stderr
        event = await stream.next(timeout=10)
        assert (event.id, event.data) == (published.stdout.strip(), "relayed")

        static = await client.get(f"{server.url}/static/hubbub/hubbub.js")  # DEBUG: Django's static files handler
        assert static.status_code == 200

    urls = plain_project.folder / "plainsite" / "urls.py"
    try:
        urls.write_text(PLAIN_URLS + 'urlpatterns.append(path("added/", publish))\n')
        later = time.time() + 2
        os.utime(urls, (later, later))
        async with httpx.AsyncClient(timeout=5) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if (await client.get(f"{server.url}/added/", params={"data": "reloaded"})).status_code == 200:
                        break
                except httpx.TransportError:
                    pass  # between the old server process and the new one
                assert time.monotonic() < deadline, server.output()
                await asyncio.sleep(0.2)
    finally:
        urls.write_text(PLAIN_URLS)
    assert "urls.py changed, reloading." in server.output()

    assert await asyncio.to_thread(server.stop, signal.SIGINT) == 0


def test_runserver_on_a_busy_port_says_so(plain_project):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = plain_project.manage("runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert "Error: That port is already in use." in result.stderr


# publish


def test_publish_without_a_server_exits_1_saying_the_update_is_only_stored(embedded_deployment):
    port = free_port()
    result = embedded_deployment.manage(
        "publish", "--topic", "/nobody", "--data", "x", check=False, env={**embedded_deployment.env, "PORT": str(port)}
    )
    assert result.returncode == 1
    assert result.stdout.strip().startswith("urn:uuid:")  # stored: pages get it when they resume
    assert f"no server at http://127.0.0.1:{port}/.well-known/mercure" in result.stderr
    assert "set PORT or HUBBUB_RELAY_URL" in result.stderr
    assert result.stderr.count("no server at") == 1  # said once, not also as a logged warning


@pytest.fixture
def command_process(settings, monkeypatch):
    """This test process as a management command's: it serves nobody, so it relays."""
    monkeypatch.setattr(publishing, "_serving", False)
    settings.HUBBUB_RELAY_URL = f"http://127.0.0.1:{free_port()}/.well-known/mercure"
    return settings


@pytest.mark.django_db(transaction=True)
def test_publish_prints_the_id_of_what_the_server_delivered(command_process, monkeypatch):
    relayed = []
    monkeypatch.setattr(publishing.relay, "relay", relayed.append)
    out = io.StringIO()
    call_command("publish", "--topic", "/a", "--topic", "/b", "--data", "hello", "--type", "greeting", stdout=out)
    [update] = relayed
    assert out.getvalue().strip() == update.id
    assert (update.topics, update.data, update.type) == (("/a", "/b"), "hello", "greeting")


@pytest.mark.django_db(transaction=True)
def test_publish_fails_when_no_server_answers(command_process):
    out = io.StringIO()
    with pytest.raises(CommandError, match="no server at .* to deliver update") as raised:
        call_command("publish", "--topic", "/a", "--data", "kept", stdout=out)
    assert out.getvalue().strip() in str(raised.value)
    assert StoredUpdate.objects.get().uid == out.getvalue().strip()


@pytest.mark.django_db(transaction=True)
def test_publish_reads_data_from_standard_input(settings, monkeypatch):
    settings.HUBBUB_RELAY_URL = None  # stored only, quietly: no relay configured
    monkeypatch.setattr(sys, "stdin", io.StringIO("line 1\nline 2"))
    call_command("publish", "--topic", "/a", "--data", "-", stdout=io.StringIO())
    assert StoredUpdate.objects.get().data == "line 1\nline 2"


def test_publish_refuses_an_invalid_update():
    with pytest.raises(CommandError, match="The update was not published: retry must consist of ASCII digits"):
        call_command("publish", "--topic", "/a", "--retry", "soon")


# serve


def test_serve_refuses_several_workers_on_sqlite_and_the_in_memory_layer(embedded_deployment):
    result = embedded_deployment.manage("serve", "--workers", "2", check=False)
    assert result.returncode == 1
    assert "hubbub.E003" in result.stderr and "hubbub.E004" in result.stderr
    assert "HINT: " in result.stderr


@pytest.fixture
def uvicorn_run(monkeypatch):
    """serve's call of uvicorn.run, recorded instead of made."""
    calls = []
    monkeypatch.setattr(serve.uvicorn, "run", lambda target, **kwargs: calls.append((target, kwargs)))
    interval = sys.getswitchinterval()
    yield calls
    sys.setswitchinterval(interval)


def test_serve_runs_asgi_application_when_the_project_sets_it(settings, uvicorn_run):
    settings.ASGI_APPLICATION = "example.asgi.application"
    call_command("serve", "--port", "8123")
    [(target, options)] = uvicorn_run
    assert (target, options["factory"], options["port"], options["workers"]) == (
        "example.asgi:application",
        False,
        8123,
        None,
    )
    assert options["loop"] == "auto"  # uvloop only when installed
    assert options["http"] is _server.HttpToolsHubProtocol  # httptools is installed here, bounded by the hub
    assert options["h11_max_incomplete_event_size"] == 64 * 1024
    # None: uvicorn's default, $FORWARDED_ALLOW_IPS else 127.0.0.1,::1
    assert (options["proxy_headers"], options["forwarded_allow_ips"]) == (True, None)


def test_serve_trusts_the_proxies_it_is_told_to(settings, uvicorn_run):
    call_command("serve", "--forwarded-allow-ips", "10.0.0.1,10.0.0.2")
    [(_, options)] = uvicorn_run
    assert (options["proxy_headers"], options["forwarded_allow_ips"]) == (True, "10.0.0.1,10.0.0.2")


def test_serve_runs_djangos_application_with_the_hub_when_asgi_application_is_unset(settings, uvicorn_run):
    del settings.ASGI_APPLICATION
    call_command("serve")
    [(target, options)] = uvicorn_run
    assert (target, options["factory"]) == ("hubbub.asgi:project_application", True)


# uvloop and httptools made unimportable, as on the base install (without hubbub[server]).
WITHOUT_SERVER_EXTRA = """
import runpy, sys
sys.modules["uvloop"] = None
sys.modules["httptools"] = None
sys.argv = ["manage.py", "serve", "--port", sys.argv[1], "--graceful-timeout", "1"]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


async def test_serve_without_uvloop_and_httptools_serves_the_project_with_the_hub(plain_project, tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-c", WITHOUT_SERVER_EXTRA, str(port)],
        env=plain_project.env,
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process)
        hub = f"http://127.0.0.1:{port}/.well-known/mercure"
        async with sse.subscribe(hub, "/plain") as stream, httpx.AsyncClient(timeout=10) as client:
            assert is_event_stream(stream)
            answer = await client.get(f"http://127.0.0.1:{port}/publish/", params={"data": "served by h11"})
            assert answer.status_code == 200
            event = await stream.next(timeout=10)
            assert (event.id, event.data) == (answer.text, "served by h11")
            refused = await huge_head(port)  # h11 bounded by the hub too
            assert status_of(refused) == 431 and body_of(refused) == b"the request head exceeds 65536 bytes\n"
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert "Traceback" not in log.read_text()


@pytest.mark.django_db(transaction=True)
def test_publish_says_when_an_id_is_already_stored_with_other_content(settings):
    settings.HUBBUB_RELAY_URL = None
    call_command("publish", "--topic", "/a", "--data", "first", "--id", "urn:once", stdout=io.StringIO())
    out = io.StringIO()
    call_command("publish", "--topic", "/a", "--data", "first", "--id", "urn:once", stdout=out)
    assert out.getvalue().strip() == "urn:once"  # a retry: the same id, nothing new
    with pytest.raises(CommandError, match="not published: an update with id 'urn:once' is already stored"):
        call_command("publish", "--topic", "/a", "--data", "second", "--id", "urn:once", stdout=io.StringIO())
    assert list(StoredUpdate.objects.values_list("data", flat=True)) == ["first"]


def test_publish_says_when_the_history_could_not_tell(monkeypatch):
    from hubbub.exceptions import OutcomeUnknown
    from hubbub.management.commands import publish as command

    def unknown(*args, **kwargs):
        raise OutcomeUnknown("the update history failed while storing (gone) and cannot tell whether it kept it")

    monkeypatch.setattr(command, "publish", unknown)
    with pytest.raises(CommandError, match="It is not known whether the update was published: .*cannot tell"):
        call_command("publish", "--topic", "/a", "--id", "urn:maybe", stdout=io.StringIO())
