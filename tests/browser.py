"""Playwright with Debian's Chromium (Playwright cannot download browsers here)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, WebSocketRoute, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
RECONNECT_MS = 46_000
"""How long a page may take to come back once a cut ends: hubbub.js retries with a backoff
that doubles up to 30 s, each wait jittered to 0.5-1.5× (a cut of ten seconds on a slow
machine already makes the next try up to 12 s away)."""


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


class HubCut:
    """Cuts a page (or a browser context) off the hub, over both of hubbub.js' transports:
    its EventSource requests fail, and its WebSockets close as a server gone away would
    (``restore`` lets both through again; later sockets then go through Playwright)."""

    PATTERN = re.compile(r"/\.well-known/mercure(\?|$)")

    def __init__(self, target: Page | BrowserContext) -> None:
        self.target = target
        self.cut = True
        target.route(self.PATTERN, lambda route: route.abort())
        target.route_web_socket(self.PATTERN, self._socket)

    def _socket(self, socket: WebSocketRoute) -> None:
        if self.cut:
            socket.close(code=1011, reason="cut off")
        else:
            socket.connect_to_server()

    def restore(self) -> None:
        self.cut = False
        self.target.unroute(self.PATTERN)
