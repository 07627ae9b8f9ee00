"""Every code example of the documentation (docs/*.md and README.md) runs here, and the site builds.

docs/install.md is the exception: the end-to-end test (a fresh project, the built wheel) applies
it, with its own ``<!-- project: ... -->`` comments.

How a page's code blocks are run, in page order, one test per page (a database with real
transactions, settings restored and example modules forgotten at the end of the page):

- A fenced block's language says what it is. An HTML comment on the line right before its
  opening fence, ``<!-- test: KIND ARGS -->``, says how to run it when the language alone does not.
  Lines after the first line of that comment (up to ``-->``) are hidden Python setup, run
  before the block in the page's namespace (users, tokens, environment variables).
- ``python`` blocks, no comment: executed in the page's namespace (shared by the page's blocks).
  Top-level ``await`` is allowed: such a block runs in an event loop of its own.
- ``<!-- test: module PATH -->``: the block is the file PATH (``myapp/authorizers.py``) of an
  example project: written to a temporary folder on ``sys.path`` (packages get an ``__init__.py``)
  and imported at once; later blocks import it.
- ``<!-- test: settings [expect=hubbub.E005,...] -->``: a fragment of ``settings.py``. It is
  executed with the current settings as globals (so ``INSTALLED_APPS += [...]`` works); every
  name it assigns must be a real setting (Django's, Channels', or one of the hub's and contrib
  apps' defaults); the system checks of the hub and the contrib apps then run with those
  settings and must report exactly the ``expect`` ids (none by default; ``expect=`` alone: none).
  With ``expect`` the settings apply to that block only; without, they stay in force for the
  rest of the page. DATABASES is checked (its ENGINE imports) but not applied; INSTALLED_APPS
  entries must import, and the list is applied only when it changes.
- ``<!-- test: template PATH -->`` (``html`` / ``django`` blocks): written as PATH in a template
  folder put first in TEMPLATES' DIRS for the rest of the page. Without it, the block must
  compile as a Django template (its ``{% load %}`` libraries must exist).
- ``<!-- test: check -->`` comments that are not followed by a block: hidden Python assertions,
  run at that point of the page (what the example did, checked).
- ``<!-- test: same-as install.md -->``: the block must appear verbatim in docs/install.md (the
  README's summary of the four steps; install.md itself is executed by the end-to-end test).
- ``sh`` / ``shell`` / ``console`` blocks: every command line must be recognized.
  ``python manage.py publish`` / ``notify`` run (``call_command``; ``<!-- test: sh exit=1 -->``:
  they must fail, their error is ``command_error`` for a later check); other management commands
  must exist and their arguments must parse; ``pip install`` may only name hubbub's real extras;
  ``curl`` requests are sent to the project's ASGI application in process (``$NAME`` from the
  environment; ``<!-- test: sh status=401 -->`` for another status than 200), a subscription
  (``curl -N`` on the hub) through ``hubbub.testing.subscribe`` (answered; with ``Last-Event-ID``
  a replayed event; then left); ``scripts/X`` must exist and be executable; ``python -c CODE``
  runs; ``export NAME=value`` sets NAME for the rest of the page (unless the value is ``...``);
  ``cd`` is accepted. Anything else fails.
- ``crontab`` blocks: five time fields, then a command line checked as above.
- ``ini`` blocks with ``<!-- test: systemd -->``: a unit file whose ExecStart is checked as above.
- ``nginx`` blocks: ``nginx -t`` on the block (inside ``http {}`` with a generated certificate)
  when nginx and openssl are installed, else (with a warning) a check that braces balance and
  statements end in ``;``.
- ``js`` / ``javascript`` blocks: ``node --check`` (as a module when the block imports or exports);
  where node is not installed that check alone is skipped, with a warning saying so.
- ``text`` blocks are samples of output or of the wire format, not code: not run.
- Any other language, or a fence without one, fails.

Run alone: ``.venv/bin/python -m pytest -q -p no:cacheprovider tests/test_docs.py``.
"""

from __future__ import annotations

import ast
import asyncio
import configparser
import copy
import importlib
import inspect
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import tomllib
import urllib.parse
import warnings
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
INSTALL = DOCS / "install.md"
PAGES = [*sorted(p for p in DOCS.glob("*.md") if p != INSTALL), ROOT / "README.md"]

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<lang>[^`\s]*)\s*$")
COMMENT_START = re.compile(r"^\s*<!--\s*test:\s*(?P<head>.*?)\s*(?P<end>-->)?\s*$")


@dataclass
class Step:
    page: Path
    line: int  # 1-based line of the opening fence (or of the comment, for checks)
    lang: str  # "" for a hidden check
    kind: str  # the comment's kind: "" when there is none
    args: list[str] = field(default_factory=list)
    setup: str = ""
    code: str = ""

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def option(self, name: str, default: str = "") -> str:
        for arg in self.args:
            key, _, value = arg.partition("=")
            if key == name:
                return value
        return default


def parse(page: Path) -> list[Step]:
    """The page's code blocks and hidden checks, in order."""
    lines = page.read_text().splitlines()
    steps: list[Step] = []
    pending: tuple[int, str, list[str], str] | None = None  # (line, kind, args, setup) of a comment
    index = 0
    while index < len(lines):
        line = lines[index]
        start = COMMENT_START.match(line)
        if start:
            head = start["head"].split()
            body: list[str] = []
            comment_line = index + 1
            if not start["end"]:
                index += 1
                while index < len(lines) and lines[index].strip() != "-->":
                    body.append(lines[index])
                    index += 1
                if index == len(lines):
                    raise AssertionError(f"{page.name}:{comment_line}: unterminated <!-- test: comment")
            kind, args = (head[0], head[1:]) if head else ("", [])
            setup = dedent(body)
            index += 1
            if index < len(lines) and FENCE.match(lines[index]):
                pending = (comment_line, kind, args, setup)
            elif kind == "check":
                steps.append(Step(page, comment_line, "", "check", args, code=setup))
            else:
                raise AssertionError(f"{page.name}:{comment_line}: '<!-- test: {kind}' is not followed by a code block")
            continue
        fence = FENCE.match(line)
        if fence:
            opening = index + 1
            indent, marker = fence["indent"], fence["fence"]
            body = []
            index += 1
            while index < len(lines) and not (lines[index].startswith(indent) and lines[index].strip() == marker):
                body.append(lines[index][len(indent) :] if lines[index].startswith(indent) else lines[index])
                index += 1
            if index == len(lines):
                raise AssertionError(f"{page.name}:{opening}: unterminated code block")
            kind, args, setup = ("", [], "") if pending is None else pending[1:]
            steps.append(Step(page, opening, fence["lang"].lower(), kind, list(args), setup, "\n".join(body) + "\n"))
            pending = None
        index += 1
    return steps


def dedent(lines: list[str]) -> str:
    return textwrap.dedent("\n".join(lines)).strip("\n") + ("\n" if lines else "")


# Running a page


class Page:
    """What the blocks of one page share: a namespace, example modules, settings in force."""

    def __init__(self, page: Path, tmp: Path, stack: ExitStack) -> None:
        self.page = page
        self.namespace: dict[str, object] = {"__name__": "docs_example"}
        self.modules = tmp / "modules"
        self.templates = tmp / "templates"
        self.tmp = tmp
        self.stack = stack
        self.templates_in_use = False
        self.modules.mkdir()
        self.templates.mkdir()
        sys.path.insert(0, str(self.modules))
        stack.callback(self.forget_modules)
        self.stubs: list[str] = []
        # Helpers for hidden setup and checks.
        self.namespace["stub_module"] = self.stub_module
        self.namespace["settings_for_page"] = self.settings_for_page

    def stub_module(self, name: str, **attributes: object) -> None:
        """A stand-in for a library the examples import but the tests do not install (celery)."""
        import types

        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        sys.modules[name] = module
        self.stubs.append(name)

    def settings_for_page(self, **changes: object) -> None:
        """Settings in force for the rest of the page."""
        from django.test import override_settings

        self.stack.enter_context(override_settings(**changes))

    def forget_modules(self) -> None:
        sys.path.remove(str(self.modules))
        for name in self.stubs:
            sys.modules.pop(name, None)
        tops = {path.name.removesuffix(".py") for path in self.modules.iterdir()}
        for name in list(sys.modules):
            if name.split(".")[0] in tops:
                del sys.modules[name]
        importlib.invalidate_caches()

    def run(self, step: Step) -> None:
        if step.kind == "same-as":
            return same_as(step)
        if step.setup and step.kind != "check":
            run_python(step.setup, self.namespace, f"{step.where} (hidden setup)")
        if step.kind == "check":
            return run_python(step.code, self.namespace, f"{step.where} (check)")
        if step.lang in ("python", "py"):
            if step.kind == "module":
                return self.write_module(step)
            if step.kind == "settings":
                return self.apply_settings(step)
            assert step.kind == "", f"{step.where}: unknown kind {step.kind!r} for a python block"
            return run_python(step.code, self.namespace, step.where)
        if step.lang in ("sh", "shell", "bash", "console"):
            return Shell(self, step).run_block(step.code)
        if step.lang == "crontab":
            return check_crontab(self, step)
        if step.lang == "ini" and step.kind == "systemd":
            return check_systemd_unit(self, step)
        if step.lang == "nginx":
            return check_nginx(step, self.tmp)
        if step.lang in ("js", "javascript"):
            return check_javascript(step, self.tmp)
        if step.lang in ("html", "django", "htmldjango"):
            return self.template(step)
        if step.lang == "text":
            return None
        raise AssertionError(f"{step.where}: a code block in {step.lang or 'no language'!r} has no test")

    def write_module(self, step: Step) -> None:
        [relative] = step.args
        path = self.modules / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(self.modules).parents:
            if parent != Path("."):
                (self.modules / parent / "__init__.py").touch()
        path.write_text(step.code)
        importlib.invalidate_caches()
        name = ".".join(Path(relative).with_suffix("").parts)
        sys.modules.pop(name, None)
        importlib.import_module(name)

    def apply_settings(self, step: Step) -> None:
        from django.conf import settings
        from django.test import override_settings

        namespace: dict[str, object] = {
            name: copy.deepcopy(getattr(settings, name)) for name in dir(settings) if name.isupper()
        }
        exec(compile(step.code, step.where, "exec"), namespace)
        assigned = assigned_names(step.code)
        assert assigned, f"{step.where}: a settings block that sets nothing"
        unknown = sorted(name for name in assigned if name not in known_settings())
        assert not unknown, f"{step.where}: not settings that Django, Channels, the hub or its apps read: {unknown}"
        changes: dict[str, object] = {}
        for name in assigned:
            value = namespace[name]
            if name == "DATABASES":
                for database in value.values():  # type: ignore[attr-defined]
                    importlib.import_module(database["ENGINE"] + ".base")
                continue
            if name == "INSTALLED_APPS":
                value = list(dict.fromkeys(value))  # type: ignore[call-overload]
                for entry in value:
                    importlib.import_module(entry.rsplit(".apps.", 1)[0] if ".apps." in entry else entry)
                if value == list(settings.INSTALLED_APPS):
                    continue
            changes[name] = value
        expected = {item for item in step.option("expect").split(",") if item}
        override = override_settings(**changes)
        if any(arg.startswith("expect=") for arg in step.args):
            with override:
                found = hub_check_ids()
            assert found == expected, (
                f"{step.where}: the hub's checks report {sorted(found)}, the page says {sorted(expected)}"
            )
        else:
            self.stack.enter_context(override)
            found = hub_check_ids()
            assert not found, f"{step.where}: these settings fail the hub's checks: {sorted(found)}"

    def template(self, step: Step) -> None:
        from django.template import engines

        if step.kind == "template":
            [relative] = step.args
            path = self.templates / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(step.code)
            if not self.templates_in_use:
                from django.conf import settings
                from django.test import override_settings

                templates = copy.deepcopy(settings.TEMPLATES)
                templates[0]["DIRS"] = [self.templates, *templates[0].get("DIRS", [])]
                self.stack.enter_context(override_settings(TEMPLATES=templates))
                self.templates_in_use = True
            from django.template.autoreload import reset_loaders

            reset_loaders()  # a template written now is found as one present at start-up would be
            engines["django"].engine.get_template(relative)
            return
        assert step.kind == "", f"{step.where}: unknown kind {step.kind!r} for a template block"
        engines["django"].from_string(step.code)


def run_python(code: str, namespace: dict[str, object], where: str) -> None:
    compiled = compile(code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    if compiled.co_flags & inspect.CO_COROUTINE:
        asyncio.run(_awaited(eval(compiled, namespace)))
    else:
        exec(compiled, namespace)


async def _awaited(coroutine: object) -> None:
    await coroutine  # type: ignore[misc]


def assigned_names(code: str) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(code).body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, (ast.AugAssign, ast.AnnAssign))
            else []
        )
        names |= {target.id for target in targets if isinstance(target, ast.Name) and target.id.isupper()}
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):  # TEMPLATES[0][...].append(...)
            base = node.value.func
            while isinstance(base, (ast.Attribute, ast.Subscript, ast.Call)):
                base = base.func if isinstance(base, ast.Call) else base.value
            if isinstance(base, ast.Name) and base.id.isupper():
                names.add(base.id)
    return names


def library_defaults() -> dict[str, object]:
    """Every setting of the hub and its contrib apps, with the default the code falls back to."""
    from hubbub import _conf

    defaults: dict[str, object] = dict(_conf.DEFAULTS)
    for name in ("hubbub.contrib.chat.conf", "hubbub.contrib.notifications.conf"):
        try:
            defaults.update(importlib.import_module(name).DEFAULTS)
        except ImportError:
            continue
    try:
        pages = importlib.import_module("hubbub.contrib.pages")
    except ImportError:
        pass
    else:
        defaults[pages.SETTING] = pages.DEFAULT
    return defaults


def known_settings() -> set[str]:
    from django.conf import global_settings

    names = {name for name in dir(global_settings) if name.isupper()}
    return names | set(library_defaults()) | {"CHANNEL_LAYERS", "ASGI_APPLICATION"}


def hub_check_ids() -> set[str]:
    """The ids the system checks of the hub and its contrib apps report (deployment checks included)."""
    from django.apps import apps
    from django.core.checks import registry

    found: set[str] = set()
    for check in registry.registry.get_checks(include_deployment_checks=True):
        module = getattr(check, "__module__", "")
        app = module.removesuffix(".checks")
        if module == "hubbub._checks" or (module.startswith("hubbub.contrib.") and apps.is_installed(app)):
            found |= {message.id for message in check(app_configs=None) if message.id}
    return found


def same_as(step: Step) -> None:
    assert step.args == ["install.md"], f"{step.where}: same-as names {step.args}"
    assert INSTALL.exists(), "docs/install.md is missing"
    assert step.code.strip() in INSTALL.read_text(), f"{step.where}: this block is not in docs/install.md as written"


# Shell


MANAGE = re.compile(r"^(?:\./)?manage\.py$")
PYTHON = re.compile(r"^(?:.*/)?python(?:3(?:\.\d+)?)?$")
RUN_COMMANDS = {"publish", "notify"}  # executed; other commands are parsed only


class Shell:
    def __init__(self, page: Page, step: Step) -> None:
        self.page = page
        self.step = step

    def run_block(self, code: str) -> None:
        for line in logical_lines(code):
            self.run_line(line)

    def run_line(self, line: str) -> None:
        words = shlex.split(line, comments=True)
        if not words:
            return
        commands: list[list[str]] = [[]]
        for word in words:
            if word in ("&&", ";", "||"):
                commands.append([])
            else:
                commands[-1].append(word)
        for argv in commands:
            if argv:
                self.run_command(argv, line)

    def run_command(self, argv: list[str], line: str) -> None:
        where = f"{self.step.where}: {line.strip()!r}"
        program = argv[0]
        if program == "export":
            for assignment in argv[1:]:
                name, _, value = assignment.partition("=")
                if value and "..." not in value:
                    os.environ[name] = os.path.expandvars(value)
            return
        if program == "cd":
            return
        if "=" in program and program.split("=")[0].isupper():  # NAME=value command
            name, _, value = program.partition("=")
            previous = os.environ.get(name)
            os.environ[name] = value
            try:
                return self.run_command(argv[1:], line)
            finally:
                if previous is None:
                    del os.environ[name]
                else:
                    os.environ[name] = previous
        if PYTHON.match(program) and argv[1:2] == ["-m"] and argv[2:3] == ["pip"]:
            return check_pip(argv[3:], where)
        if PYTHON.match(program) and argv[1:2] == ["-c"]:
            result = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, f"{where}: failed:\n{result.stderr}"
            return None
        if PYTHON.match(program) and len(argv) > 1 and MANAGE.match(argv[1]):
            return self.manage(argv[2:], where)
        if MANAGE.match(program) or program == "django-admin":
            return self.manage(argv[1:], where)
        if program in ("pip", "pip3") or program.endswith("/pip"):
            return check_pip(argv[1:], where)
        if program.startswith("scripts/"):
            script = ROOT / program
            assert script.is_file() and os.access(script, os.X_OK), f"{where}: {program} is not an executable script"
            return None
        if program == "curl":
            return curl(argv[1:], int(self.step.option("status", "200")), where)
        raise AssertionError(f"{where}: no test knows how to check {program!r}")

    def manage(self, argv: list[str], where: str) -> None:
        from django.core.management import call_command, get_commands, load_command_class

        assert argv, f"{where}: no command"
        name, arguments = argv[0], [os.path.expandvars(a) for a in argv[1:]]
        commands = get_commands()
        assert name in commands, f"{where}: there is no management command {name!r}"
        if name in RUN_COMMANDS:
            from django.core.management import CommandError

            out = io.StringIO()
            try:
                call_command(name, *arguments, stdout=out, stderr=io.StringIO())
            except CommandError as error:
                assert self.step.option("exit") == "1", f"{where}: failed: {error}"
                self.page.namespace["command_error"] = str(error)
            else:
                assert self.step.option("exit", "0") == "0", f"{where}: succeeded, the page expects it to fail"
            self.page.namespace["command_output"] = out.getvalue()
            return
        command = load_command_class(commands[name], name)
        command.create_parser("manage.py", name).parse_args(arguments)


def logical_lines(code: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for raw in code.splitlines():
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        lines.append(current + raw)
        current = ""
    if current:
        lines.append(current)
    return [line.removeprefix("$ ") for line in lines]


def check_pip(argv: list[str], where: str) -> None:
    assert argv and argv[0] == "install", f"{where}: only 'pip install' is documented"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = set(pyproject["project"].get("optional-dependencies", {}))
    groups = set(pyproject.get("dependency-groups", {}))
    arguments = iter(argv[1:])
    for argument in arguments:
        if argument == "--group":
            group = next(arguments)
            assert group in groups, f"{where}: no dependency group {group!r} in pyproject.toml"
            continue
        if argument.startswith("-"):
            continue
        match = re.fullmatch(r"(hubbub|\.|-e \.)(?:\[([a-z,]+)\])?", argument)
        assert match, f"{where}: {argument!r} is not hubbub"
        named = set(filter(None, (match[2] or "").split(",")))
        assert named <= extras, (
            f"{where}: no such extra: {sorted(named - extras)} (pyproject.toml has {sorted(extras)})"
        )


def curl(argv: list[str], status: int, where: str) -> None:
    import httpx

    from hubbub.asgi import project_application

    method, url = "GET", ""
    headers: dict[str, str] = {}
    body: list[str] = []
    arguments = iter(os.path.expandvars(a) for a in argv)
    for argument in arguments:
        if argument in ("-X", "--request"):
            method = next(arguments)
        elif argument in ("-H", "--header"):
            name, _, value = next(arguments).partition(":")
            headers[name.strip()] = value.strip()
        elif argument in ("-d", "--data", "--data-raw"):
            body.append(next(arguments))
        elif argument == "--data-urlencode":
            name, _, value = next(arguments).partition("=")
            body.append(f"{name}={urllib.parse.quote_plus(value)}")
        elif argument in ("-s", "-S", "-sS", "-i", "-f", "--fail", "-N", "--no-buffer"):
            pass
        elif argument.startswith("-"):
            raise AssertionError(f"{where}: curl option {argument} is not supported by this test")
        else:
            url = argument
    assert url, f"{where}: curl without a URL"
    if body and method == "GET":
        method = "POST"
    if body:
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname in ("127.0.0.1", "localhost"), f"{where}: the test sends requests to the local server only"
    if method == "GET" and parts.path == "/.well-known/mercure":
        return subscribe(parts.query, headers, status, where)

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=project_application())
        async with httpx.AsyncClient(transport=transport, base_url=f"{parts.scheme}://{parts.netloc}") as client:
            return await client.request(
                method,
                urllib.parse.urlunsplit(("", "", parts.path, parts.query, "")),
                headers=headers,
                content="&".join(body),
            )

    from hubbub import _publishing

    serving = _publishing._serving
    try:
        response = asyncio.run(send())
    finally:
        _publishing._serving = serving  # the examples run as a process that is not the server
    assert response.status_code == status, (
        f"{where}: answered {response.status_code} {response.text.strip()!r}, expected {status}"
    )


def subscribe(query: str, headers: dict[str, str], status: int, where: str) -> None:
    """A subscription (which never ends by itself): opened in process, answered, then left."""
    from hubbub.testing import subscribe

    parameters = urllib.parse.parse_qsl(query, keep_blank_values=True)
    topics = [value for name, value in parameters if name == "topic"]
    others = [(name, value) for name, value in parameters if name != "topic"]

    async def open_and_leave() -> None:
        async with subscribe(*topics, headers=headers, query=others) as subscriber:
            assert subscriber.status == status, (
                f"{where}: answered {subscriber.status} {subscriber.reason!r}, expected {status}"
            )
            if status == 200 and any(name.lower() == "last-event-id" for name in headers):
                await subscriber.next(timeout=5)  # the replay

    asyncio.run(open_and_leave())


# Other languages


def check_crontab(page: Page, step: Step) -> None:
    for line in step.code.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split(None, 5)
        assert len(fields) == 6, f"{step.where}: a crontab line is five time fields and a command: {line!r}"
        for value in fields[:5]:
            assert re.fullmatch(r"[\d*/,\-]+", value), f"{step.where}: {value!r} is not a crontab time field"
        Shell(page, step).run_line(fields[5])


def check_systemd_unit(page: Page, step: Step) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(step.code)
    assert {"Unit", "Service", "Install"} <= set(parser.sections()), (
        f"{step.where}: a unit needs [Unit], [Service], [Install]"
    )
    environment = dict(
        assignment.split("=", 1)
        for assignment in shlex.split(parser["Service"].get("Environment", ""))
        if "=" in assignment
    )
    exec_start = parser["Service"]["ExecStart"]
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        Shell(page, step).run_line(exec_start)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_nginx(step: Step, tmp: Path) -> None:
    code = step.code
    statements = re.sub(r"#.*", "", code)
    assert statements.count("{") == statements.count("}"), f"{step.where}: unbalanced braces"
    for line in statements.splitlines():
        stripped = line.strip()
        assert not stripped or stripped.endswith(("{", "}", ";")), (
            f"{step.where}: {stripped!r} does not end a statement"
        )
    nginx, openssl = shutil.which("nginx") or "/usr/sbin/nginx", shutil.which("openssl")
    if not Path(nginx).exists() or openssl is None:  # braces and statements checked
        reason = f"{step.where}: no `nginx -t`, nginx or openssl is not installed"
        warnings.warn(reason, pytest.PytestWarning, stacklevel=1)
        return
    folder = tmp / "nginx"
    folder.mkdir(exist_ok=True)
    certificate, key = folder / "cert.pem", folder / "key.pem"
    if not certificate.exists():
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=example.com",
             "-keyout", str(key), "-out", str(certificate)],
            check=True, capture_output=True,
        )  # fmt: skip
    code = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {certificate};", code)
    code = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", code)
    wrapped = code if re.search(r"^\s*http\s*\{", code, re.M) else f"http {{\n{code}\n}}\n"
    config = folder / "nginx.conf"
    config.write_text(f"pid {folder / 'nginx.pid'};\nevents {{}}\n{wrapped}")
    result = subprocess.run(
        [nginx, "-t", "-q", "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(config)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, f"{step.where}: nginx -t failed:\n{result.stderr}"


def check_javascript(step: Step, tmp: Path) -> None:
    node = shutil.which("node")
    if node is None:  # the page's other blocks still run: this check alone is skipped, and says so
        warnings.warn(f"{step.where}: not syntax-checked, node is not installed", pytest.PytestWarning, stacklevel=1)
        return
    module = re.search(r"^\s*(import|export)\b", step.code, re.M) is not None
    path = tmp / f"block-{step.line}.{'mjs' if module else 'js'}"
    path.write_text(step.code)
    result = subprocess.run([node, "--check", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"{step.where}: node --check failed:\n{result.stderr}"


# The tests


@pytest.fixture
def data_migrations(transactional_db: None) -> None:
    """What data migrations create (the chat's "general" room), as in a new project: other
    transactional tests flush it. (serialized_rollback would do it too, but clashes with the
    content types their flushes recreate.)"""
    from django.apps import apps

    importlib.import_module("hubbub.contrib.chat.migrations.0002_default_room").create_default_room(apps, None)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_code_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_migrations: None) -> None:
    from hubbub import _publishing

    # The examples run as a process that serves no subscribers would (a task worker, a script).
    monkeypatch.setattr(_publishing, "_serving", False)
    environment = dict(os.environ)
    steps = parse(page)
    assert steps or page.name == "changelog.md", f"{page.name} has no code examples"
    try:
        with ExitStack() as stack:
            runner = Page(page, tmp_path, stack)
            for step in steps:
                runner.run(step)
    finally:
        os.environ.clear()
        os.environ.update(environment)


def test_every_page_is_in_the_nav() -> None:
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text().replace("!!python/name:", ""))
    listed: set[str] = set()

    def walk(entry: object) -> None:
        if isinstance(entry, str):
            listed.add(entry)
        elif isinstance(entry, dict):
            for value in entry.values():
                walk(value)
        elif isinstance(entry, list):
            for value in entry:
                walk(value)

    walk(config["nav"])
    pages = {str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md")}
    assert pages - listed == set(), "pages missing from mkdocs.yml's nav"
    assert config["nav"][1] == {"Install": "install.md"}, "install.md is the second page"


def test_settings_reference_lists_every_setting_with_its_library_default() -> None:
    """Each row of docs/settings.md's tables whose first cell is a setting of the hub or its
    apps gives its default: a Python literal in backticks equal to the code's, or words for the
    derived ones (the keys, the relay URL)."""
    rows: dict[str, str] = {}
    for line in (DOCS / "settings.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"`[A-Z][A-Z0-9_]+`", cells[0]):
            rows[cells[0].strip("`")] = cells[1]
    defaults = library_defaults()
    assert set(defaults) <= set(rows), f"settings missing from docs/settings.md: {sorted(set(defaults) - set(rows))}"
    for name, default in defaults.items():
        literal = re.fullmatch(r"`([^`]+)`", rows[name])
        if literal is None:
            assert not isinstance(default, (int, float, str, list, tuple, bool)) or name.endswith("_JWT_KEY"), (
                f"docs/settings.md gives {name} a default in words; the code has {default!r}"
            )
            continue
        assert ast.literal_eval(literal[1]) == default, (
            f"docs/settings.md gives {name} the default {literal[1]}, the code has {default!r}"
        )


def test_checks_page_lists_every_check() -> None:
    source = (ROOT / "hubbub" / "_checks.py").read_text()
    ids = set(re.findall(r'id="(hubbub\.[EW]\d{3})"', source))
    pages = ROOT / "hubbub" / "contrib" / "pages.py"  # the contrib apps' checks, one set per app label
    if pages.exists():
        suffixes = set(re.findall(r'id=f"\{app_id\}\.([EW]\d{3})"', pages.read_text()))
        for checks in (ROOT / "hubbub" / "contrib").glob("*/checks.py"):
            for label in re.findall(r'^LABEL = "(\w+)"', checks.read_text(), re.M):
                ids |= {f"{label}.{suffix}" for suffix in suffixes}
    page = (DOCS / "checks.md").read_text()
    assert ids, "no check ids found in hubbub/_checks.py"
    headings = set(re.findall(r"^#+ (\S+)$", page, re.M))
    assert ids - headings == set(), "check ids without a section in docs/checks.md"


def test_docs_build_strict(tmp_path: Path) -> None:
    """``mkdocs build --strict`` passes (warnings are errors), and the changelog page is
    CHANGELOG.md itself, rendered by the hook in docs/hooks/ (docs/ holds no copy of it)."""
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    assert (site / "index.html").exists()
    html = (site / "changelog" / "index.html").read_text()
    releases = re.findall(r"^## \[?(\d+\.\d+\.\d+)", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert releases and all(release in html for release in releases)
