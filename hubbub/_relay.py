"""Delivering updates through the running server, for processes that cannot reach its subscribers.

With the in-memory channel layer (the embedded configuration) a management command or a
script runs in a process of its own, whose channel layer no subscriber listens to. It
hands the update to the server's publish endpoint instead, which stores and delivers it.
"""

from __future__ import annotations

import httpx

from . import _conf as conf, _tokens as tokens
from ._updates import Update
from .exceptions import HubbubError


class RelayUnavailable(HubbubError):
    """No server answered at the relay URL."""


def _request(update: Update) -> tuple[str, dict[str, str], dict[str, str | list[str]]]:
    url = conf.get("HUBBUB_RELAY_URL")
    key = conf.get("HUBBUB_PUBLISHER_JWT_KEY")
    if not url or not key:
        raise RelayUnavailable("no relay URL or publisher key configured")
    form: dict[str, str | list[str]] = {"topic": list(update.topics), "data": update.data, "id": update.id}
    if update.private:
        form["private"] = "on"
    if update.type:
        form["type"] = update.type
    if update.retry is not None:
        form["retry"] = str(update.retry)
    if conf.get("HUBBUB_MERCURE_DRAFT07"):
        token = tokens.mint(key, publish=list(update.topics), expires_in=60)
    else:
        # The hub checks aud against HUBBUB_TOKEN_AUDIENCE, else the URL the request reached.
        audience = [name for name in dict.fromkeys((conf.get("HUBBUB_TOKEN_AUDIENCE"), url)) if name]
        token = tokens.mint(
            key,
            publish=list(update.topics),
            expires_in=60,
            draft=8,
            issuer=conf.get("HUBBUB_TOKEN_ISSUER"),
            audience=audience,
            subject="hubbub-relay",
        )
    return url, {"Authorization": f"Bearer {token}"}, form


def _check(response: httpx.Response) -> None:
    if response.status_code != 200:
        raise HubbubError(f"the hub at the relay URL answered {response.status_code}: {response.text.strip()}")


def relay(update: Update) -> None:
    url, headers, form = _request(update)
    try:
        response = httpx.post(url, headers=headers, data=form, timeout=10)
    except httpx.TransportError as error:
        raise RelayUnavailable(str(error)) from error
    _check(response)


async def arelay(update: Update) -> None:
    url, headers, form = _request(update)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(url, headers=headers, data=form)
    except httpx.TransportError as error:
        raise RelayUnavailable(str(error)) from error
    _check(response)
