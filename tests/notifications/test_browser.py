"""notifications.js and the bell in Chromium, against a live embedded server."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, expect

from tests.browser import HubCut, chromium
from tests.notifications.live import signed_in_user
from tests.servers import ROOT, Server

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def signed_in_context(browser: Browser, server: Server, session_key: str, **options):
    context = browser.new_context(**options)
    context.add_cookies([{"name": "sessionid", "value": session_key, "url": server.url}])
    return context


def wait_until(page, expression: str, timeout: float = 10) -> None:
    """``page.wait_for_function(expression)`` without the ``eval`` it runs in the page, which the
    demo's Content-Security-Policy (no 'unsafe-eval') forbids there."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        page.wait_for_timeout(20)


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(Path(ARTIFACTS) / name), full_page=True)


def test_notify_command_updates_open_page_and_reading_in_another_tab_updates_the_first(browser, embedded_server):
    name, _, session_key = signed_in_user(embedded_server, "alice")
    context = signed_in_context(browser, embedded_server, session_key)
    first = context.new_page()
    errors: list[str] = []
    first.on("pageerror", lambda error: errors.append(str(error)))
    first.goto(f"{embedded_server.url}/notifications/")
    bell = first.locator("#notification-bell")
    expect(bell).to_have_attribute("aria-label", "Notifications: 0 unread")
    expect(first.locator("#notification-count")).to_be_hidden()

    embedded_server.manage(
        "notify",
        "--user",
        name,
        "--title",
        "Deploy <b>finished</b>",
        "--body",
        "<img src=x onerror=alert(1)>",
        "--url",
        "/notifications/?from=toast",
        "--level",
        "success",
    )

    expect(first.locator("#notification-count")).to_have_text("1")
    expect(bell).to_have_attribute("aria-label", "Notifications: 1 unread")
    toast = first.locator("#notification-toasts .notification-toast")
    expect(toast).to_have_count(1)
    expect(toast.locator(".notification-toast__title a")).to_have_text("Deploy <b>finished</b>")
    expect(toast.locator(".notification-toast__title a")).to_have_attribute(
        "href", re.compile(r"/notifications/\?from=toast$")
    )
    expect(toast.locator(".notification-toast__body")).to_have_text("<img src=x onerror=alert(1)>")
    assert first.locator("#notification-toasts img").count() == 0
    # The centre on the open page shows it live, unread, with its link.
    item = first.locator("#notification-list li.notification").first
    expect(item).to_have_class(re.compile(r"\bis-unread\b"))
    expect(item.locator(".notification__title a")).to_have_text("Deploy <b>finished</b>")
    expect(first.locator("#notification-unread")).to_have_text("1")
    screenshot(first, "notifications-toast.png")

    second = context.new_page()
    second.goto(f"{embedded_server.url}/notifications/")
    expect(second.locator("#notification-count")).to_have_text("1")
    second.get_by_role("button", name="Mark all as read").click()
    expect(second.locator("#notification-count")).to_be_hidden()

    expect(first.locator("#notification-count")).to_be_hidden()
    expect(bell).to_have_attribute("aria-label", "Notifications: 0 unread")
    expect(item).not_to_have_class(re.compile(r"\bis-unread\b"))
    expect(first.locator("#notification-unread")).to_have_text("0")

    # Persisted: a reload shows the same state.
    first.reload()
    expect(first.locator("#notification-list li.notification.is-unread")).to_have_count(0)
    expect(first.locator("#notification-list li.notification")).to_have_count(1)
    assert errors == []
    context.close()


def test_a_page_with_only_the_bell_subscribes_from_its_render_position_and_misses_nothing(browser, embedded_server):
    """The bell gives hubbub.js the hub and its position (a <link rel="mercure"> it adds): what is
    published after the page was rendered, before its stream opened, is replayed."""
    name, _, session_key = signed_in_user(embedded_server, "carol")
    context = signed_in_context(browser, embedded_server, session_key)
    page = context.new_page()
    streams: list[str] = []

    def publish_before_the_stream_opens(route):
        if not streams:
            embedded_server.manage("notify", "--user", name, "--title", "published before subscribing")
        streams.append(route.request.url)
        route.continue_()

    page.route("**/.well-known/mercure?*", publish_before_the_stream_opens)
    # The EventSource transport (a browser without WebSocket): its request shows the query.
    page.add_init_script("delete window.WebSocket")
    page.goto(f"{embedded_server.url}/account/")
    expect(page.locator("#notification-count")).to_have_text("1")
    expect(page.locator("#notification-toasts .notification-toast")).to_contain_text("published before subscribing")

    bell = page.locator("#notification-bell")
    link = page.locator('head link[rel="mercure"]')
    expect(link).to_have_count(1)
    position = bell.get_attribute("data-last-event-id")
    assert link.get_attribute("data-last-event-id") == position
    assert link.get_attribute("href") == "/.well-known/mercure"
    query = parse_qs(urlsplit(streams[0]).query)
    assert query == {"match": [bell.get_attribute("data-topic")], "last_event_id": [position]}
    context.close()


def test_mark_one_read_at_phone_width_in_dark_mode(browser, embedded_server):
    name, _, session_key = signed_in_user(embedded_server, "bob")
    for title in ("first", "second"):
        embedded_server.manage("notify", "--user", name, "--title", title)
    context = signed_in_context(
        browser, embedded_server, session_key, viewport={"width": 375, "height": 700}, color_scheme="dark"
    )
    page = context.new_page()
    page.goto(f"{embedded_server.url}/notifications/")
    expect(page.locator("#notification-count")).to_have_text("2")
    items = page.locator("#notification-list li.notification")
    expect(items.first).to_contain_text("second")
    items.first.get_by_role("button", name="Mark read").click()
    expect(page.locator("#notification-count")).to_have_text("1")
    expect(items.first).not_to_have_class(re.compile(r"\bis-unread\b"))
    expect(items.nth(1)).to_have_class(re.compile(r"\bis-unread\b"))
    no_horizontal_scroll = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert no_horizontal_scroll
    screenshot(page, "notifications-phone-dark.png")
    context.close()


HIDDEN_TAB_WITH_PERMISSION = """
window.shownNotifications = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.shownNotifications.push({ title, ...options }); }
  addEventListener() {}
  close() {}
};
Object.defineProperty(document, "visibilityState", { get: () => "hidden" });
"""


def test_hidden_tab_gets_a_browser_notification_instead_of_a_toast(browser, embedded_server):
    name, _, session_key = signed_in_user(embedded_server, "carol")
    context = signed_in_context(browser, embedded_server, session_key)
    context.add_init_script(HIDDEN_TAB_WITH_PERMISSION)
    page = context.new_page()
    page.goto(f"{embedded_server.url}/notifications/")
    expect(page.locator("#notification-permission")).to_be_hidden()  # already granted: nothing to ask

    embedded_server.manage("notify", "--user", name, "--title", "While you were away", "--body", "details")

    wait_until(page, "window.shownNotifications.length === 1")
    [shown] = page.evaluate("window.shownNotifications")
    assert (shown["title"], shown["body"]) == ("While you were away", "details")
    assert shown["tag"].startswith("hubbub-notification-")
    expect(page.locator("#notification-count")).to_have_text("1")
    assert page.locator("#notification-toasts .notification-toast").count() == 0
    context.close()


def test_permission_is_asked_only_from_the_button(browser, embedded_server):
    _, _, session_key = signed_in_user(embedded_server, "dave")
    context = signed_in_context(browser, embedded_server, session_key)
    context.add_init_script(
        """
        window.permissionRequests = 0;
        window.Notification = class {
          static permission = "default";
          static requestPermission() {
            window.permissionRequests += 1;
            this.permission = "granted";
            return Promise.resolve("granted");
          }
        };
        """
    )
    page = context.new_page()
    page.goto(f"{embedded_server.url}/notifications/")
    button = page.get_by_role("button", name="Show desktop notifications")
    expect(button).to_be_visible()
    assert page.evaluate("window.permissionRequests") == 0
    button.click()
    expect(button).to_be_hidden()
    assert page.evaluate("window.permissionRequests") == 1
    context.close()


def test_after_a_server_restart_the_page_gets_what_it_missed_once(browser, embedded_deployment):
    server = embedded_deployment.start()
    name, _, session_key = signed_in_user(server, "erin")
    context = signed_in_context(browser, server, session_key)
    page = context.new_page()
    page.goto(f"{server.url}/notifications/")
    server.manage("notify", "--user", name, "--title", "before the restart")
    expect(page.locator("#notification-count")).to_have_text("1")

    server.stop()
    # With no server to relay through, the command stores the notification and its update in
    # the hub's history, and says (exit 1) that it could not deliver it live.
    down = server.manage("notify", "--user", name, "--title", "while the server was down", check=False)
    assert down.returncode == 1, down.stderr
    assert "stored 1 notification(s)" in down.stderr and "could not deliver them live" in down.stderr
    server = server.restart()

    expect(page.locator("#notification-count")).to_have_text("2", timeout=20_000)
    items = page.locator("#notification-list li.notification")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("while the server was down")
    expect(items.nth(1)).to_contain_text("before the restart")
    context.close()
    server.stop()


def test_chat_mention_reaches_the_mentioned_users_open_room_page(browser, embedded_server):
    author, author_pk, _ = signed_in_user(embedded_server, "author")
    reader, _, session_key = signed_in_user(embedded_server, "reader")
    slug = f"mentions-{author_pk}"
    embedded_server.manage(
        "shell",
        "-c",
        f"from hubbub.contrib.chat.models import Room; Room.objects.create(slug={slug!r}, name='Mentions')",
    )
    context = signed_in_context(browser, embedded_server, session_key)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{embedded_server.url}/rooms/{slug}/")
    expect(page.locator("#notification-bell")).to_have_attribute("aria-label", "Notifications: 0 unread")

    # A message posted in another process, as the chat's post view does it.
    embedded_server.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; from hubbub.contrib.chat.models import Room; "
        "from hubbub.contrib.chat.posting import post; "
        f"post(Room.objects.get(slug={slug!r}), get_user_model().objects.get(username={author!r}), "
        f"'hey @{reader}, look')",
    )

    expect(page.locator("#notification-count")).to_have_text("1")
    toast_link = page.locator("#notification-toasts .notification-toast__title a")
    expect(toast_link).to_have_text(f"{author} mentioned you in Mentions")
    expect(toast_link).to_have_attribute("href", re.compile(rf"/rooms/{slug}/#message-\d+$"))
    assert errors == []
    context.close()


# Counts the page's mark-read replies once notifications.js has handled them (a task after the
# JSON resolves runs after the code awaiting it).
COUNT_HANDLED_REPLIES = """
window.markReadReplies = 0;
const json = Response.prototype.json;
Response.prototype.json = function () {
  const result = json.call(this);
  if (this.url.includes("/read/")) result.then(() => setTimeout(() => { window.markReadReplies += 1; }));
  return result;
};
"""


def test_a_mark_read_reply_overtaken_by_a_new_notification_leaves_the_bell_on_the_new_count(browser, embedded_server):
    name, _, session_key = signed_in_user(embedded_server, "frank")
    for title in ("first", "second"):
        embedded_server.manage("notify", "--user", name, "--title", title)
    context = signed_in_context(browser, embedded_server, session_key)
    context.add_init_script(COUNT_HANDLED_REPLIES)
    page = context.new_page()
    page.goto(f"{embedded_server.url}/notifications/")
    count = page.locator("#notification-count")
    expect(count).to_have_text("2")

    # The server marks both read and answers "0 unread", but the answer is held back...
    # The handler only records the request: fetching it there (route.fetch() in the handler) left
    # the test racing the handler's greenlet, which appended only once the server had answered.
    held = []
    page.route("**/notifications/read/", lambda route: held.append(route))
    page.get_by_role("button", name="Mark all as read").click()
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    route = held[0]
    reply = route.fetch()  # the server marks both read now
    assert reply.json()["unread"] == 0
    expect(count).to_be_hidden()  # notification.read (0 unread) came through the hub

    # ...until a notification that came after it has reached the page.
    embedded_server.manage("notify", "--user", name, "--title", "meanwhile")
    expect(count).to_have_text("1")
    items = page.locator("#notification-list li.notification")
    expect(items).to_have_count(3)
    route.fulfill(response=reply)
    wait_until(page, "window.markReadReplies === 1")

    assert count.inner_text() == "1"
    expect(page.locator("#notification-bell")).to_have_attribute("aria-label", "Notifications: 1 unread")
    expect(page.locator("#notification-unread")).to_have_text("1")
    expect(items.nth(0)).to_contain_text("meanwhile")
    expect(items.nth(0)).to_have_class(re.compile(r"\bis-unread\b"))  # not read by the late reply of "mark all"
    expect(page.locator("#notification-list li.notification.is-unread")).to_have_count(1)
    expect(page.get_by_role("button", name="Mark all as read")).to_be_enabled()
    page.reload()
    expect(count).to_have_text("1")
    expect(page.locator("#notification-list li.notification.is-unread")).to_contain_text("meanwhile")
    context.close()


def test_with_the_stream_down_the_mark_read_reply_sets_the_bell(browser, embedded_server):
    name, _, session_key = signed_in_user(embedded_server, "grace")
    for title in ("first", "second"):
        embedded_server.manage("notify", "--user", name, "--title", title)
    context = signed_in_context(browser, embedded_server, session_key)
    HubCut(context)
    context.add_init_script(COUNT_HANDLED_REPLIES)
    page = context.new_page()
    page.goto(f"{embedded_server.url}/notifications/")
    count = page.locator("#notification-count")
    expect(count).to_have_text("2")

    page.locator("#notification-list li.notification").first.get_by_role("button", name="Mark read").click()
    wait_until(page, "window.markReadReplies === 1")
    assert count.inner_text() == "1"
    expect(page.locator("#notification-list li.notification.is-unread")).to_have_count(1)
    context.close()


def test_server_rendered_and_live_items_show_their_time_in_one_format(browser, embedded_server):
    name, _, session_key = signed_in_user(embedded_server, "hal")
    embedded_server.manage("notify", "--user", name, "--title", "rendered by the server")
    context = signed_in_context(browser, embedded_server, session_key)
    page = context.new_page()
    page.goto(f"{embedded_server.url}/notifications/")
    items = page.locator("#notification-list li.notification")
    expect(items).to_have_count(1)
    embedded_server.manage("notify", "--user", name, "--title", "live")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("live")
    live, rendered = (items.nth(i).locator("time").inner_text() for i in (0, 1))
    # The same shape (digits aside): the reader's locale, as the live item's.
    assert re.sub(r"\d+", "#", live) == re.sub(r"\d+", "#", rendered), (live, rendered)
    context.close()
