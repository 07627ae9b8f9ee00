"""The public API as a type checker sees it: real signatures, not ``Any``.

mypy runs, with the project's configuration (strict, django-stubs), on a snippet that uses
the API as documented and on one that misuses it; every line marked ``# error`` must be
reported, and nothing else. The cache in .mypy_cache is shared with the CI's mypy run.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[2]

CORRECT = """
    from collections.abc import Iterable

    from django.contrib.auth.models import User

    import hubbub
    from hubbub.exceptions import HubbubError


    def use_in_a_view(user: User) -> str:
        first: str = hubbub.publish("/books/1")
        second: str = hubbub.publish(
            ["/books/1", "/authors/2"], "{}", private=True, type="book", id="urn:book:1", retry=500
        )
        hubbub.reauthorize(user)
        token: str = hubbub.mint_token(subscribe=["/books/{id}"], expires_in=3600)
        token = hubbub.mint_token(publish="*", key="an explicit key of at least 32 bytes!!")
        position: str = hubbub.last_event_id()
        return first + second + token + position


    async def use_in_async_code(user: User) -> str:
        await hubbub.areauthorize(user)
        try:
            return await hubbub.apublish("/books/1", "data", private=False)
        except hubbub.UpdateTooLarge as error:
            assert isinstance(error, hubbub.InvalidUpdate) and isinstance(error, HubbubError)
            raise
        except (hubbub.FanoutUnavailable, hubbub.HistoryUnavailable, hubbub.LayerUnavailable):
            raise


    def rooms(user: User, selectors: list[str]) -> Iterable[str]:
        granted = hubbub.SelectorSet(selectors)
        return [topic for topic in [f"/users/{user.pk}"] if granted.match(topic)]


    authorize: hubbub.Authorizer = rooms
    update = hubbub.Update(topics=("/books/1",), data="x")
    fields: tuple[tuple[str, ...], str, bool, str | None, str, int | None] = (
        update.topics, update.data, update.private, update.type, update.id, update.retry
    )
    warning: type[Warning] = hubbub.RelayWarning
"""

WRONG = """
    import hubbub


    def misuse() -> None:
        hubbub.publish(123, bogus=True)  # error
        hubbub.publish("/books/1", data={"a": 1})  # error
        hubbub.publish("/books/1", "x", True)  # error
        hubbub.publish("/books/1", retry="soon")  # error
        number: int = hubbub.publish("/books/1")  # error
        hubbub.mint_token(["*"])  # error
        hubbub.mint_token(publish=[1, 2])  # error
        hubbub.mint_token(expires_in="an hour")  # error
        hubbub.last_event_id("x")  # error
        hubbub.reauthorize()  # error
        hubbub.SelectorSet(["/a"]).match(1)  # error
        hubbub.pubish("/books/1")  # error


    async def amisuse() -> None:
        await hubbub.apublish(123)  # error
        await hubbub.apublish("/books/1", private="yes")  # error
        number: int = await hubbub.apublish("/books/1")  # error
        hubbub.apublish("/books/1").upper()  # error
"""


def errors_in(snippet: str, path: Path) -> dict[int, list[str]]:
    """mypy's errors in ``snippet`` (written to ``path``), by line; errors elsewhere are not its."""
    path.write_text(textwrap.dedent(snippet))
    options = ["--config-file", str(ROOT / "pyproject.toml"), "--no-error-summary", "--show-error-codes"]
    stdout, stderr, _ = api.run([*options, str(path)])
    assert not stderr, stderr
    found: dict[int, list[str]] = {}
    for line in stdout.splitlines():
        match = re.match(rf"{re.escape(str(path))}:(\d+): error: (.*)", line)
        if match:
            found.setdefault(int(match[1]), []).append(match[2])
    return found


@pytest.fixture
def snippet_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(ROOT)  # mypy finds hubbub, tests.settings and .mypy_cache from the project's root
    return tmp_path / "snippet.py"


def test_the_documented_uses_of_the_public_api_type_check(snippet_path: Path) -> None:
    assert errors_in(CORRECT, snippet_path) == {}


def test_misuses_of_the_public_api_are_type_errors(snippet_path: Path) -> None:
    expected = {
        number for number, line in enumerate(textwrap.dedent(WRONG).splitlines(), 1) if line.endswith("# error")
    }
    found = errors_in(WRONG, snippet_path)
    assert set(found) == expected, found
