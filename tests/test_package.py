"""The distribution, end to end: the built wheel, and docs/install.md followed to the letter.

Builds the wheel once from a copy of the working tree, checks what it holds and declares,
then creates a fresh virtual environment and a fresh ``django-admin startproject mysite``
and applies every block of docs/install.md in order, as the HTML comment on the line before
its fence says: ``<!-- project: run -->`` (a shell block, one command a line, run in the
project folder with the venv first on PATH; ``pip install hubbub[extras]`` installs the built
wheel), ``<!-- project: create|replace|append PATH -->`` (a file of the project). Commands that
need the running server (``manage.py runserver``, ``publish``, ``notify``) are played after
the rest, in the docs' order, against ``runserver`` on a free port (``PORT`` set for every
command, as the docs say to do for another port than 8000), with Chromium on the docs' pages.

Run alone: ``.venv/bin/python -m pytest -q -p no:cacheprovider tests/test_package.py``
(or ``-m package``).

Nothing is cached between runs but pip's own cache.
"""

from __future__ import annotations

import email.parser
import json
import os
import re
import shlex
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser import chromium
from tests.servers import free_port, stop_process_group, wait_for_port

pytestmark = [pytest.mark.package, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parent.parent
INSTALL_DOCS = ROOT / "docs" / "install.md"
# What `pip install hubbub` may add on top of Django and Channels; urlpattern (Mercure 1.0's URL
# Patterns, a 3.5 MB compiled Rust matcher) took it from 8.6 MB to 12.3 MB.
MAX_ADDED_BYTES = 13_000_000
COMMAND_TIMEOUT = 120
LIVE_MS = 15_000  # how long a page may take to show what was published

# What the test does in the docs' example pages; each is checked to be in the docs first.
NEWS_URL = "http://127.0.0.1:8000/news/"
BASE_TEMPLATE_MARKER = '<footer class="mysite-footer">'


# The docs' blocks


@dataclass(frozen=True)
class Block:
    action: str  # run, append, replace or create
    path: str | None  # for files, relative to the project folder
    language: str
    text: str
    line: int  # of the opening fence in docs/install.md


MARKER = re.compile(r"<!-- project: (?P<action>[a-z]+)(?: (?P<path>\S+))? -->")
FENCE = re.compile(r"^(?P<fence>```+)(?P<language>[\w-]*)\s*$")


def fenced_blocks(text: str) -> Iterator[tuple[int, str, str, str]]:
    """Each fenced block: (line of its fence, the line before the fence, language, text)."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        start = index
        end = start + 1
        while end < len(lines) and lines[end].rstrip() != match["fence"]:
            end += 1
        assert end < len(lines), f"docs/install.md:{start + 1}: unclosed code block"
        yield start + 1, lines[start - 1] if start else "", match["language"], "\n".join(lines[start + 1 : end]) + "\n"
        index = end + 1


def install_blocks() -> list[Block]:
    blocks = []
    for line, before, language, text in fenced_blocks(INSTALL_DOCS.read_text()):
        marker = MARKER.fullmatch(before.strip())
        assert marker, (
            f"docs/install.md:{line}: a {language or 'plain'} block without a '<!-- project: ... -->' marker "
            "on the line before it; every example on this page is applied by this test"
        )
        action, path = marker["action"], marker["path"]
        assert action in ("run", "append", "replace", "create"), f"docs/install.md:{line}: unknown action {action!r}"
        assert (action == "run") == (path is None), f"docs/install.md:{line}: {action!r} {path!r}"
        blocks.append(Block(action, path, language, text, line))
    return blocks


def test_every_code_block_of_the_install_page_is_applied() -> None:
    blocks = install_blocks()
    assert {block.language for block in blocks} <= {"shell", "python", "html"}
    assert all(block.language == "shell" for block in blocks if block.action == "run")
    commands = [line for block in blocks if block.action == "run" for line in command_lines(block)]
    for needed in ("pip install hubbub", "python manage.py migrate", "python manage.py runserver"):
        assert needed in commands
    assert any(re.search(r"manage\.py publish ", command) for command in commands)
    assert any(re.search(r"manage\.py notify ", command) for command in commands)
    text = INSTALL_DOCS.read_text()
    assert NEWS_URL in text and BASE_TEMPLATE_MARKER in text


def command_lines(block: Block) -> list[str]:
    return [line.strip() for line in block.text.splitlines() if line.strip() and not line.strip().startswith("#")]


# The wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built (in an isolated build environment) from a copy of the working tree:
    its tracked and not-ignored files, so that no stale build/ or egg-info leaks in."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        origin = ROOT / name
        if origin.is_file():  # deleted in the working tree but still tracked: gone
            target = source / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(origin.read_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(work / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = (work / "dist").glob("hubbub-*.whl")
    return built


def test_the_wheel_holds_only_the_hubbub_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = next(name.split("/")[0] for name in names if name.split("/")[0].endswith(".dist-info"))
    assert dist_info == "-".join(wheel.name.split("-")[:2]) + ".dist-info"
    assert {name.split("/")[0] for name in names} == {"hubbub", dist_info}
    for needed in (
        "hubbub/__init__.py",
        "hubbub/py.typed",
        "hubbub/asgi.py",
        "hubbub/testing.py",
        "hubbub/discovery.py",
        "hubbub/templatetags/hubbub.py",
        "hubbub/migrations/0001_initial.py",
        "hubbub/static/hubbub/hubbub.js",
        "hubbub/static/hubbub/socket.js",
        "hubbub/management/commands/runserver.py",
        "hubbub/management/commands/publish.py",
        "hubbub/management/commands/serve.py",
        "hubbub/contrib/__init__.py",
        "hubbub/contrib/chat/migrations/0001_initial.py",
        "hubbub/contrib/notifications/migrations/0001_initial.py",
        "hubbub/contrib/notifications/management/commands/notify.py",
        f"{dist_info}/licenses/LICENSE",
    ):
        assert needed in names, f"{needed} is not in {wheel.name}"
    for app in ("chat", "notifications"):
        prefix = f"hubbub/contrib/{app}/"
        assert any(name.startswith(f"{prefix}templates/hubbub/{app}/") and name.endswith(".html") for name in names), (
            app
        )
        assert any(name.startswith(f"{prefix}static/hubbub/{app}/") and name.endswith(".js") for name in names), app
    assert not [name for name in names if "__pycache__" in name or name.endswith((".pyc", ".sqlite3"))]


def test_the_wheel_declares_license_classifiers_and_extras(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        metadata_name = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(metadata_name).decode())
    assert metadata["Name"] == "hubbub"
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    classifiers = metadata.get_all("Classifier")
    assert "Framework :: Django" in classifiers
    assert "Typing :: Typed" in classifiers
    assert not [classifier for classifier in classifiers if classifier.startswith("License ::")]  # SPDX instead
    assert set(metadata.get_all("Provides-Extra")) >= {"redis", "postgres", "server"}
    requires = metadata.get_all("Requires-Dist")
    base = {
        re.split(r"[<>=!~ \[;]", requirement)[0].lower() for requirement in requires if "extra ==" not in requirement
    }
    assert {"django", "channels", "pyjwt"} <= base
    assert not base & {"channels-redis", "asyncpg", "psycopg", "servestatic", "dj-database-url"}, base
    assert metadata.get_all("Project-URL")
    assert metadata["Requires-Python"]


# A fresh project, following docs/install.md


def site_packages_bytes(venv: Path) -> int:
    (site_packages,) = venv.glob("lib/python*/site-packages")
    return sum(path.stat().st_size for path in site_packages.rglob("*") if path.is_file() and not path.is_symlink())


def project_env(venv: Path, port: int) -> dict[str, str]:
    """A shell in the project's virtual environment, with none of this test run's settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "HUBBUB_", "PYTEST_", "PYTHON"))
        and key not in ("VIRTUAL_ENV", "DATABASE_URL", "REDIS_URL", "PORT")
    }
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}", PORT=str(port))
    return env


def shell(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    )
    assert result.returncode == 0, f"$ {command}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


PIP_INSTALL_HUBBUB = re.compile(r"""^pip install (?P<quote>["']?)hubbub(?P<extras>\[[\w,]+\])?(?P=quote)$""")
LIVE = re.compile(r"manage\.py (runserver|publish|notify)\b")


def apply_file_block(project: Path, block: Block) -> None:
    path = project / block.path
    where = f"docs/install.md:{block.line}: {block.action} {block.path}"
    if block.action == "create":
        assert not path.exists(), f"{where}: it exists already"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text)
    elif block.action == "replace":
        assert path.exists(), f"{where}: no such file to replace"
        path.write_text(block.text)
    else:
        assert path.exists(), f"{where}: no such file to append to"
        path.write_text(path.read_text().rstrip("\n") + "\n\n\n" + block.text)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        stop_process_group(self.process)


def start_runserver(command: str, project: Path, env: dict[str, str], port: int) -> Server:
    assert re.fullmatch(r"python manage\.py runserver", command), command
    log = project.parent / "runserver.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*shlex.split(command), f"127.0.0.1:{port}"],
            cwd=project,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_for_port(port, process, timeout=60)
    except RuntimeError:
        server.stop()
        raise AssertionError(f"runserver did not start:\n{log.read_text()}") from None
    return server


def check_the_hub_streams(server: Server) -> None:
    """runserver serves the hub: a subscription is answered as an event stream."""
    import http.client

    connection = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=10)
    try:
        connection.request("GET", "/.well-known/mercure?topic=/news")
        response = connection.getresponse()
        assert response.status == 200, (response.status, response.read(500))
        assert response.getheader("Content-Type", "").startswith("text/event-stream")
    finally:
        connection.close()


HUB = "/.well-known/mercure?"


def open_news_page(page: Page, server: Server) -> None:
    page.goto(NEWS_URL.replace("http://127.0.0.1:8000", server.url))
    expect(page.locator("#status")).to_have_text("Live", timeout=LIVE_MS)


def wait_until(page: Page, condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    """Waits while Playwright dispatches the page's events."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout}s for {what}"
        page.wait_for_timeout(50)


def argument(command: str, name: str) -> str:
    arguments = shlex.split(command)
    return arguments[arguments.index(name) + 1]


SIGN_IN = """
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
user = get_user_model().objects.create_user({name!r}, password="correct horse battery staple")
session = import_module(settings.SESSION_ENGINE).SessionStore()
session[SESSION_KEY] = user._meta.pk.value_to_string(user)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.save()
print(session.session_key)
"""


@dataclass
class Project:
    """The docs' project, its virtual environment, and its server once started."""

    folder: Path
    env: dict[str, str]
    server: Server | None = None

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return shell(command, self.folder, self.env)

    def sign_in(self, browser: Browser, name: str) -> BrowserContext:
        """A browser signed in as a new user ``name`` (a session made in the project's shell)."""
        assert self.server is not None
        made = self.run(f"python manage.py shell -c {shlex.quote(SIGN_IN.format(name=name))}")
        session_key = made.stdout.split()[-1]  # after Django 5.2's "N objects imported automatically"
        context = browser.new_context()
        context.add_cookies([{"name": "sessionid", "value": session_key, "url": self.server.url}])
        return context


def check_publish_command(project: Project, command: str, pages: list[Page]) -> None:
    """`manage.py publish` from another process reaches the open pages (relayed by runserver)."""
    result = project.run(command)
    assert re.fullmatch(r"urn:uuid:[0-9a-f-]+\s*", result.stdout), result.stdout
    headline = json.loads(argument(command, "--data"))["headline"]
    for page in pages:
        expect(page.locator("#headlines li").first).to_have_text(headline, timeout=LIVE_MS)


def check_notify_command(project: Project, command: str, browser: Browser, errors: list[str]) -> None:
    """`manage.py notify` counts on the bell of the user's open page (in the project's base
    template), and /notifications/ lists it inside that base template."""
    assert project.server is not None
    page = project.sign_in(browser, argument(command, "--user")).new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    streams: list[str] = []
    page.on("response", lambda response: streams.append(response.url) if HUB in response.url else None)
    # A page of the project (the docs' news page) that extends the base template with the bell.
    open_news_page(page, project.server)
    expect(page.locator("#notification-bell")).to_be_visible()
    expect(page.locator("#notification-count")).to_be_hidden()
    wait_until(page, lambda: len(streams) >= 2, "the bell's stream, besides the page's own, to open")

    project.run(command)
    expect(page.locator("#notification-count")).to_have_text("1", timeout=LIVE_MS)

    response = page.goto(f"{project.server.url}/notifications/")
    assert response is not None and response.status == 200
    expect(page.locator("main")).to_contain_text(argument(command, "--title"))
    assert BASE_TEMPLATE_MARKER in page.content(), "/notifications/ is not inside the project's base template"
    expect(page.locator("#notification-count")).to_have_text("1")


@pytest.mark.browser
def test_a_fresh_project_following_the_install_page(wheel: Path, tmp_path: Path) -> None:
    blocks = install_blocks()
    port = free_port()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=COMMAND_TIMEOUT)
    env = project_env(venv, port)
    shell("pip install --quiet django channels", tmp_path, env)
    before = site_packages_bytes(venv)
    shell("django-admin startproject mysite", tmp_path, env)
    project = Project(tmp_path / "mysite", env)

    # Everything but what needs the running server, in the docs' order.
    live: list[tuple[Block, str]] = []
    added: int | None = None
    for block in blocks:
        if block.action != "run":
            apply_file_block(project.folder, block)
            continue
        for command in command_lines(block):
            if LIVE.search(command):
                live.append((block, command))
                continue
            install = PIP_INSTALL_HUBBUB.match(command)
            if install:
                command = f"pip install --quiet {shlex.quote(str(wheel) + (install['extras'] or ''))}"
            project.run(command)
            if install:
                added = site_packages_bytes(venv) - before

    assert added is not None, "the docs never install hubbub"
    print(f"pip install hubbub added {added / 1e6:.1f} MB on top of Django and Channels")
    assert added < MAX_ADDED_BYTES, f"pip install hubbub added {added / 1e6:.1f} MB on top of Django and Channels"
    imported = project.run('python -c "import hubbub; print(hubbub.__file__)"').stdout.strip()
    assert imported.startswith(str(venv)), f"the project imports hubbub from {imported}, not from the wheel"
    check = project.run("python manage.py check")
    assert "System check identified no issues" in check.stdout, check.stdout + check.stderr

    # What needs the server, in the docs' order, with pages open.
    assert live and "runserver" in live[0][1], "the docs start runserver before publishing from another process"
    project.server = server = start_runserver(live[0][1], project.folder, env, port)
    try:
        check_the_hub_streams(server)
        with chromium() as browser:
            errors: list[str] = []
            context = browser.new_context()
            pages = [context.new_page(), context.new_page()]
            for page in pages:
                page.on("pageerror", lambda error: errors.append(str(error)))
                open_news_page(page, server)

            # hubbub.publish in the docs' view: the form of one window, seen in both.
            pages[0].get_by_label("Headline").fill("Published from a view")
            pages[0].get_by_role("button", name="Publish").click()
            for page in pages:
                expect(page.locator("#headlines li")).to_have_text(["Published from a view"], timeout=LIVE_MS)

            for block, command in live[1:]:
                if re.search(r"manage\.py publish\b", command):
                    check_publish_command(project, command, pages)
                elif re.search(r"manage\.py notify\b", command):
                    check_notify_command(project, command, browser, errors)
                else:
                    raise AssertionError(f"docs/install.md:{block.line}: no check for `{command}` in this test")
            assert not errors, errors
    except BaseException:
        print(server.log.read_text()[-6000:])
        raise
    finally:
        server.stop()
