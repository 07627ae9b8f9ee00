"""Discovery: telling clients where the hub is, and from which position to subscribe.

Mercure's discovery is a ``Link`` header on the resource a client fetched::

    Link: <https://example.com/.well-known/mercure>; rel="mercure"; last-event-id="urn:uuid:..."

``last-event-id`` is the hub's position when the resource was generated: a client that
subscribes from it (``last_event_id=...``) misses nothing published in between. Browsers
cannot read the headers of the page they show, so a page also carries the same in HTML,
``<link rel="mercure" href="..." data-last-event-id="...">`` (the ``{% mercure_link %}`` tag
of ``{% load hubbub %}``), which ``hubbub.js`` reads.

Three ways to add the header:

- ``DiscoveryMiddleware`` in ``MIDDLEWARE``: on every successful HTML or JSON answer to a
  ``GET`` or ``HEAD`` request;
- ``@mercure_discovery`` on the views that want it (sync or async), on every response;
- ``add_link(response, request)`` from a view that builds its response itself.

The position is taken *before* the view runs (by the middleware and the decorator), so that
whatever changes after the view's queries is replayed rather than missed; the template tag
uses that same position. A view that takes the position itself passes it to the tag
(``{% mercure_link position %}``) or to ``add_link``; ``position(request)`` is the
request's.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast
from urllib.parse import quote

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.urls import get_script_prefix
from django.utils.deprecation import MiddlewareMixin

import hubbub

from .asgi import MERCURE_PATH

__all__ = [
    "DiscoveryMiddleware",
    "add_link",
    "hub_path",
    "hub_url",
    "link_header",
    "mercure_discovery",
    "position",
]

# Where the middleware, the decorator or the template tag keeps the position of the request.
_POSITION = "_hubbub_last_event_id"

_REL = re.compile(r"""[;\s]rel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))""", re.IGNORECASE)
_QUOTABLE = re.compile(r"[\x20-\x7e]*")
_DOCUMENT_TYPES = ("text/html", "application/xhtml+xml", "application/json")

View = TypeVar("View", bound=Callable[..., Any])


def hub_path(request: HttpRequest | None = None) -> str:
    """The hub's path as the client sees it: under the script prefix (``FORCE_SCRIPT_NAME``,
    else the request's ``SCRIPT_NAME`` or ASGI ``root_path``; without a request, the prefix
    of the request being handled)."""
    forced: str | None = settings.FORCE_SCRIPT_NAME
    if forced is not None:
        prefix = forced
    elif request is not None:
        prefix = str(request.META.get("SCRIPT_NAME", ""))
    else:
        prefix = get_script_prefix()
    return prefix.rstrip("/") + MERCURE_PATH


def hub_url(request: HttpRequest) -> str:
    """The hub's absolute URL, on the scheme and host the request came by."""
    return request.build_absolute_uri(hub_path(request))


def position(request: HttpRequest) -> str:
    """The position the request's page resumes from: the one the middleware or the decorator
    took before the view ran, else the hub's current one (kept for the rest of the request,
    so that the header and the page agree)."""
    taken = getattr(request, _POSITION, None)
    if not isinstance(taken, str):
        taken = hubbub.last_event_id()
        setattr(request, _POSITION, taken)
    return taken


def link_header(request: HttpRequest, last_event_id: str | None = None) -> str:
    """The ``Link`` header value naming the hub, with ``last-event-id`` (by default the
    request's position, see ``position``)."""
    value = position(request) if last_event_id is None else last_event_id
    return f'<{hub_url(request)}>; rel="mercure"; {_attribute("last-event-id", value)}'


def add_link(response: HttpResponseBase, request: HttpRequest, last_event_id: str | None = None) -> HttpResponseBase:
    """Add the hub's link to ``response``, after any ``Link`` it has; unchanged when it already
    names a hub (``rel="mercure"``)."""
    existing = response.headers.get("Link", "")
    if _names_hub(existing):
        return response
    link = link_header(request, last_event_id)
    response.headers["Link"] = f"{existing}, {link}" if existing.strip() else link
    return response


class DiscoveryMiddleware(MiddlewareMixin):
    """Adds the hub's link to successful (2xx), non-streaming HTML and JSON answers
    (``text/html``, ``application/xhtml+xml``, ``application/json``, ``application/*+json``)
    to ``GET`` and ``HEAD`` requests, unless the view set one itself. Put it after the
    static-file middleware (WhiteNoise, ServeStatic): it reads the hub's position (one query)
    before each such request."""

    def process_request(self, request: HttpRequest) -> None:
        if request.method in ("GET", "HEAD"):
            position(request)

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if (
            request.method in ("GET", "HEAD")
            and 200 <= response.status_code < 300
            and not response.streaming
            and _is_document(response.headers.get("Content-Type", ""))
        ):
            add_link(response, request)
        return response


def mercure_discovery(view: View) -> View:
    """Adds the hub's link to every response of ``view`` (a sync or an async view function),
    with the position taken before the view runs."""
    if iscoroutinefunction(view):
        async_view = cast(Callable[..., Awaitable[HttpResponseBase]], view)

        @functools.wraps(view)
        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            await sync_to_async(position)(request)
            return add_link(await async_view(request, *args, **kwargs), request)

        return cast(View, async_wrapper)

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        position(request)
        return add_link(view(request, *args, **kwargs), request)

    return cast(View, wrapper)


def _attribute(name: str, value: str) -> str:
    """An RFC 8288 target attribute: a quoted string (``"`` and ``\\`` escaped) when the
    value is printable ASCII, else RFC 8187's UTF-8 form (``name*=UTF-8''...``), since a
    header cannot carry other characters."""
    if _QUOTABLE.fullmatch(value):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{name}="{escaped}"'
    return f"{name}*=UTF-8''{quote(value, safe='')}"


def _names_hub(link: str) -> bool:
    return any("mercure" in (quoted or bare).lower().split() for quoted, bare in _REL.findall(link))


def _is_document(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in _DOCUMENT_TYPES or (media_type.startswith("application/") and media_type.endswith("+json"))
