"""The chat page over the hub's WebSocket in Chromium, and the same page where WebSocket is
blocked (it falls back to EventSource by itself), against a real server process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import unquote_plus

import pytest
from playwright.sync_api import Browser, expect

from tests.browser import HubCut
from tests.chat import test_browser
from tests.chat.test_browser import Person, Running, unique

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

# What a proxy that refuses the upgrade looks like to a page: the socket closes (1006) before
# it ever opens.
BLOCK_WEBSOCKET = """
window.WebSocket = class extends EventTarget {
  static CONNECTING = 0; static OPEN = 1; static CLOSING = 2; static CLOSED = 3;
  constructor(url) {
    super();
    this.url = String(url);
    this.readyState = 0;
    window.__blockedSockets = (window.__blockedSockets || 0) + 1;
    setTimeout(() => {
      this.readyState = 3;
      const closed = new CloseEvent("close", { code: 1006, wasClean: false });
      if (this.onclose) this.onclose(closed);
      this.dispatchEvent(closed);
    }, 20);
  }
  send() { throw new DOMException("not open", "InvalidStateError"); }
  close() {}
};
"""


# test_browser's fixtures: a server and a browser for this module.
running, browser = test_browser.running, test_browser.browser


class Watched(Person):
    """A person whose page's connections to the hub are recorded."""

    def __init__(self, browser: Browser, base_url: str, *, block_websocket: bool = False) -> None:
        super().__init__(browser, base_url)
        self.sockets: list[str] = []
        self.frames: list[str] = []
        self.sent: list[str] = []
        self.streams: list[str] = []
        self.posts: list[str] = []
        if block_websocket:
            self.page.add_init_script(BLOCK_WEBSOCKET)
        self.page.on("websocket", self._socket)
        self.page.on("request", self._request)

    def _socket(self, socket) -> None:
        self.sockets.append(socket.url)
        socket.on("framereceived", lambda payload: self.frames.append(str(payload)))
        socket.on("framesent", lambda payload: self.sent.append(str(payload)))

    def _request(self, request) -> None:
        if "/.well-known/mercure?" in request.url:
            self.streams.append(request.url)
        elif request.method == "POST":
            self.posts.append(request.url)


@pytest.fixture
def watched(browser: Browser, running: Running) -> Iterator[list[Watched]]:
    people: list[Watched] = []
    yield people
    for person in people:
        person.close()


def test_the_chat_talks_over_the_websocket(browser: Browser, running: Running, watched: list[Watched]) -> None:
    """Both pages receive over their socket, and post and type through it: no HTTP request."""
    ann = Watched(browser, running.url)
    ben = Watched(browser, running.url)
    watched += [ann, ben]
    ann.join(unique("Ann")).expect_connected()
    ben.join(unique("Ben")).expect_connected()
    ann.posts.clear()
    text = unique("over the socket ")
    box = ann.page.get_by_role("textbox", name="Message")
    box.fill(text)
    expect(ben.page.locator("#typing")).to_have_text(f"{ann.name} is typing…")
    box.press("Enter")
    expect(ben.page.locator("#message-list .message-text", has_text=text)).to_have_count(1)
    expect(ann.page.locator("#message-list .message-text", has_text=text)).to_have_count(1)
    for person in (ann, ben):
        assert any(url.endswith("/.well-known/mercure") for url in person.sockets), person.sockets
        assert person.streams == []  # no EventSource
    assert any(text in frame and '"type":"event"' in frame for frame in ben.frames)
    assert ann.posts == []  # the post and the typing notice went through the socket
    requests = [json.loads(frame) for frame in ann.sent if '"type":"request"' in frame]
    assert {request["path"].rsplit("/", 2)[-2] for request in requests} >= {"messages", "typing"}, requests
    assert any(text in unquote_plus(request["body"]) for request in requests)


def test_a_socket_that_drops_is_replaced_and_the_page_resumes(
    browser: Browser, running: Running, watched: list[Watched]
) -> None:
    ann = Watched(browser, running.url)
    ben = Watched(browser, running.url)
    watched += [ann, ben]
    ann.join(unique("Ann")).expect_connected()
    ben.join(unique("Ben")).expect_connected()
    cut = HubCut(ben.page)
    running.restart()
    expect(ben.page.locator("#connection-status")).to_have_text("Reconnecting…")
    ann.expect_connected()
    missed = [unique("missed "), unique("missed ")]
    for text in missed:
        ann.say(text)
    cut.restore()
    ben.expect_reconnected()
    for text in missed:
        expect(ben.page.locator("#message-list .message-text", has_text=text)).to_have_count(1)
    assert ben.streams == [] and len(ben.sockets) >= 2  # it stayed on WebSocket


def test_the_chat_keeps_working_when_websocket_is_blocked(
    browser: Browser, running: Running, watched: list[Watched]
) -> None:
    ann = Watched(browser, running.url)
    ben = Watched(browser, running.url, block_websocket=True)
    watched += [ann, ben]
    ann.join(unique("Ann")).expect_connected()
    ben.join(unique("Ben")).expect_connected()
    assert ben.page.evaluate("window.__blockedSockets") >= 1
    assert ben.sockets == [] and ben.streams, (ben.sockets, ben.streams)  # fell back to EventSource
    for speaker, reader in ((ann, ben), (ben, ann)):
        text = unique(f"from {speaker.name} ")
        speaker.say(text)
        expect(reader.page.locator("#message-list .message-text", has_text=text)).to_have_count(1)
    assert any(url.endswith("/messages/") for url in ben.posts), ben.posts  # Ben posts over HTTP
