"""The chat page in Chromium (Playwright) against a real server process of its own."""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests import servers
from tests.browser import ARTIFACTS, RECONNECT_MS, HubCut, chromium

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

XSS = "<img src=x onerror=alert(1)>"


class Running:
    """The server of this module; restarting replaces the process, so tests hold this."""

    def __init__(self, server: servers.Server) -> None:
        self.server = server

    @property
    def url(self) -> str:
        return self.server.url

    def restart(self) -> None:
        self.server = self.server.restart()


@pytest.fixture(scope="module")
def running(embedded_deployment: servers.Deployment) -> Iterator[Running]:
    running = Running(embedded_deployment.start())
    yield running
    running.server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


class Person:
    """One person in a browser context of their own, with the dialogs their page opened."""

    def __init__(self, browser: Browser, base_url: str, **context_options) -> None:
        self.context = browser.new_context(base_url=base_url, **context_options)
        self.page: Page = self.context.new_page()
        self.dialogs: list[str] = []
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def join(self, name: str) -> Person:
        self.page.goto("/")
        self.page.get_by_label("Your name").fill(name)
        self.page.get_by_role("button", name="Enter chat").click()
        self.page.wait_for_url("**/rooms/general/")
        self.name = name
        return self

    def sign_in(self, name: str, password: str) -> Person:
        """Sign in to an account made beforehand (no guest account: the lobby's are rate limited)."""
        self.page.goto("/signin/")
        self.page.get_by_label("Username").fill(name)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url("**/rooms/general/")
        self.name = name
        return self

    def create_room(self, name: str, *, private: bool = False) -> str:
        self.page.goto("/rooms/")
        self.page.get_by_label("Room name").fill(name)
        if private:
            self.page.get_by_label("Private", exact=False).check()
        self.page.get_by_role("button", name="Create room").click()
        self.page.wait_for_url("**/rooms/*/")
        self.expect_connected()
        return self.page.url

    def add_member(self, name: str) -> None:
        """Add ``name`` to the private room on screen with its members form."""
        self.page.get_by_label("Add a member by name").fill(name)
        self.page.get_by_role("button", name="Add", exact=True).click()
        expect(self.page.locator(".notice")).to_contain_text(f"{name} is now a member")

    def expect_private_room_link(self, name: str) -> Locator:
        """The one link to private room ``name`` in this page's room list, marked private."""
        link = self.page.locator(".room-links .room-link", has_text=name)
        expect(link).to_have_count(1)
        expect(link).to_have_accessible_name(f"{name} (private)")
        expect(link.locator(".room-hash .icon-lock")).to_have_count(1)
        return link

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.expect_connected()

    def expect_connected(self) -> None:
        expect(self.page.locator("#connection-status")).to_have_text("Connected")

    def expect_reconnected(self) -> None:
        """After a cut ends: the page's next try may be a backoff away."""
        expect(self.page.locator("#connection-status")).to_have_text("Connected", timeout=RECONNECT_MS)

    def say(self, text: str) -> None:
        box = self.page.get_by_role("textbox", name="Message")
        box.fill(text)
        box.press("Enter")
        expect(box).to_have_value("")

    def texts(self) -> list[str]:
        return self.page.locator("#message-list .message-text").all_text_contents()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def people(browser: Browser, running: Running) -> Iterator[tuple[Person, Person]]:
    a = Person(browser, running.url).join(unique("Ann"))
    b = Person(browser, running.url).join(unique("Ben"))
    yield a, b
    a.close()
    b.close()


def test_lobby_screenshot(browser: Browser, running: Running) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for scheme in ("light", "dark"):
        visitor = Person(browser, running.url, color_scheme=scheme, viewport={"width": 1280, "height": 760})
        visitor.page.goto("/")
        expect(visitor.page.get_by_role("button", name="Enter chat")).to_be_visible()
        visitor.page.screenshot(path=ARTIFACTS / f"chat-lobby-{scheme}.png")
        visitor.close()


def test_a_message_reaches_the_other_browser_live_as_text(people: tuple[Person, Person], running: Running) -> None:
    a, b = people
    room = a.create_room(unique("Live "))
    b.open(room)
    expect(b.page.locator("#presence-list")).to_contain_text(a.name)
    expect(a.page.locator("#presence-list")).to_contain_text(b.name)

    a.say("Hello from A")
    expect(b.page.locator("#message-list .message").last).to_contain_text("Hello from A")
    expect(b.page.locator("#message-list .message").last.locator(".message-author")).to_have_text(a.name)

    box = a.page.get_by_role("textbox", name="Message")
    box.type("line one")
    expect(b.page.locator("#typing")).to_have_text(f"{a.name} is typing…")
    box.press("Shift+Enter")
    box.type("line two")
    box.press("Enter")
    expect(b.page.locator("#message-list .message-text").last).to_have_text("line one\nline two")
    expect(b.page.locator("#typing")).to_have_text("")

    a.say(XSS)
    expect(b.page.locator("#message-list .message-text").last).to_have_text(XSS)
    expect(a.page.locator("#message-list .message-text").last).to_have_text(XSS)
    for person in (a, b):
        assert person.page.locator("#message-list img").count() == 0
        assert person.dialogs == []
        assert person.texts() == ["Hello from A", "line one\nline two", XSS]

    # A moderator deletes a message in another process: open pages drop it.
    running.server.manage(
        "shell",
        "-c",
        "from hubbub.contrib.chat.models import Message; "
        f"Message.objects.get(text='line one\\nline two', author__username='{a.name}').delete()",
    )
    for person in (a, b):
        expect(person.page.locator("#message-list .message-text")).to_have_text(["Hello from A", XSS])

    b.page.goto("/rooms/")
    expect(a.page.locator("#presence-list")).not_to_contain_text(b.name)
    expect(a.page.locator("#presence-count")).to_have_text("1")


def test_errors_are_shown_in_words_and_the_text_is_kept(people: tuple[Person, Person]) -> None:
    a, _ = people
    a.expect_connected()
    box = a.page.get_by_role("textbox", name="Message")
    box.press("Enter")
    expect(a.page.locator("#composer-error")).to_have_text("Write a message first: an empty message was not sent.")

    long_text = "y" * 2001
    box.fill(long_text)
    box.press("Enter")
    expect(a.page.locator("#composer-error")).to_contain_text("the limit is 2000")
    expect(box).to_have_value(long_text)

    a.context.set_offline(True)
    box.fill("sent while offline")
    a.page.get_by_role("button", name="Send").click()
    expect(a.page.locator("#composer-error")).to_contain_text("you may be offline")
    expect(box).to_have_value("sent while offline")
    a.context.set_offline(False)
    a.page.get_by_role("button", name="Send").click()
    expect(box).to_have_value("")
    expect(a.page.locator("#composer-error")).to_be_empty()
    expect(a.page.locator("#message-list .message-text").last).to_have_text("sent while offline")


def test_after_a_cut_the_page_shows_what_it_missed_once_each_in_order(
    people: tuple[Person, Person], running: Running
) -> None:
    a, b = people
    room = a.create_room(unique("Resume "))
    b.open(room)
    a.say("before the cut")
    expect(b.page.locator("#message-list .message-text").last).to_have_text("before the cut")

    cut = HubCut(b.page)
    running.restart()
    expect(b.page.locator("#connection-status")).to_have_text("Reconnecting…")
    a.expect_connected()
    missed = ["missed one", "missed two", "missed three"]
    for text in missed:
        a.say(text)
    assert b.texts() == ["before the cut"]

    cut.restore()
    b.expect_reconnected()
    expect(b.page.locator("#message-list .message-text")).to_have_text(["before the cut", *missed])
    expect(a.page.locator("#message-list .message-text")).to_have_text(["before the cut", *missed])


def test_a_new_public_room_appears_in_the_other_sidebar_live(people: tuple[Person, Person]) -> None:
    a, b = people
    b.expect_connected()
    name = unique("Atrium ")
    url = a.create_room(name)
    link = b.page.locator(".room-links .room-link", has_text=name)
    expect(link).to_have_count(1)
    assert url.endswith(link.get_attribute("href"))


def test_a_private_room_opens_to_added_members_only(people: tuple[Person, Person]) -> None:
    a, b = people
    a.page.goto("/rooms/")
    a.page.get_by_label("Room name").fill(unique("Council "))
    a.page.get_by_label("Private", exact=False).check()
    a.page.get_by_role("button", name="Create room").click()
    a.page.wait_for_url("**/rooms/*/")
    room = a.page.url

    response = b.page.goto(room)
    assert response is not None and response.status == 403
    expect(b.page.get_by_role("alert")).to_contain_text("only its members can read it")

    a.add_member(b.name)
    a.expect_connected()
    b.open(room)
    a.say("for members only")
    expect(b.page.locator("#message-list .message-text")).to_have_text(["for members only"])
    ARTIFACTS.mkdir(exist_ok=True)
    b.page.screenshot(path=ARTIFACTS / "chat-room-private.png")


def test_a_member_added_to_a_private_room_sees_it_in_the_sidebar_live_and_nobody_else_does(
    people: tuple[Person, Person], browser: Browser, running: Running
) -> None:
    a, b = people
    c = Person(browser, running.url).join(unique("Cid"))
    for person in (b, c):
        person.expect_connected()
        person.page.evaluate("window.notReloaded = true")
    name = unique("Cabal ")
    a.create_room(name, private=True)
    a.add_member(b.name)

    link = b.expect_private_room_link(name)
    assert b.page.evaluate("window.notReloaded") is True
    link.click()
    b.page.wait_for_url(f"**{link.get_attribute('href')}")
    expect(b.page.locator("#room-title")).to_contain_text(name)

    # A public room created after it reaches C: had the private one been sent to C, it would be there by now.
    later = unique("Forum ")
    a.create_room(later)
    expect(c.page.locator(".room-links .room-link", has_text=later)).to_have_count(1)
    expect(c.page.locator(".room-links .room-link", has_text=name)).to_have_count(0)
    assert c.page.evaluate("window.notReloaded") is True

    # A moderator removes B in another process: the room leaves B's sidebar.
    b.open("/rooms/general/")
    expect(b.page.locator(".room-links .room-link", has_text=name)).to_have_count(1)
    running.server.manage(
        "shell",
        "-c",
        f"from hubbub.contrib.chat.models import Room; room = Room.objects.get(name='{name}'); "
        f"room.members.remove(room.members.get(username='{b.name}'))",
    )
    expect(b.page.locator(".room-links .room-link", has_text=name)).to_have_count(0)
    c.close()


def test_the_rooms_page_and_the_lobby_list_new_rooms_live_and_private_ones_to_members_only(
    people: tuple[Person, Person], browser: Browser, running: Running
) -> None:
    a, b = people
    c = Person(browser, running.url).join(unique("Cid"))
    b.page.goto("/rooms/")
    c.page.goto("/")
    expect(c.page.get_by_role("heading", name="Your rooms")).to_be_visible()
    for person in (b, c):
        person.page.evaluate("window.notReloaded = true")

    public = unique("Agora ")
    url = a.create_room(public)
    for person in (b, c):
        link = person.page.locator(".room-links .room-link", has_text=public)
        expect(link).to_have_count(1)
        expect(link).to_have_accessible_name(public)
        assert url.endswith(link.get_attribute("href"))

    private = unique("Conclave ")
    a.create_room(private, private=True)
    a.add_member(b.name)
    link = b.expect_private_room_link(private)

    # A public room created after it reaches C: had the private one been sent to C, it would be there by now.
    later = unique("Bazaar ")
    a.create_room(later)
    expect(c.page.locator(".room-links .room-link", has_text=later)).to_have_count(1)
    expect(c.page.locator(".room-links .room-link", has_text=private)).to_have_count(0)

    # A moderator removes B in another process: the room leaves B's list.
    running.server.manage(
        "shell",
        "-c",
        f"from hubbub.contrib.chat.models import Room; room = Room.objects.get(name='{private}'); "
        f"room.members.remove(room.members.get(username='{b.name}'))",
    )
    expect(b.page.locator(".room-links .room-link", has_text=private)).to_have_count(0)
    expect(b.page.locator(".room-links .room-link", has_text=later)).to_have_count(1)
    for person in (b, c):
        assert person.page.evaluate("window.notReloaded") is True
    c.close()


def test_a_private_rooms_member_list_follows_additions_and_removals_live(
    people: tuple[Person, Person], browser: Browser, running: Running
) -> None:
    a, b = people
    c = Person(browser, running.url).join(unique("Cid"))
    room = a.create_room(unique("Guild "), private=True)
    a.add_member(b.name)
    b.open(room)
    b.page.evaluate("window.notReloaded = true")
    members = b.page.locator("#member-list .person-name")
    expect(members).to_have_text([a.name, b.name])
    expect(b.page.locator(f'#member-list [data-name="{b.name}"] .person-you')).to_have_text(" (you)")

    a.add_member(c.name)
    expect(members).to_have_text([a.name, b.name, c.name])
    expect(b.page.locator("#member-count")).to_have_text("3")
    expect(b.page.locator("#member-total")).to_have_text("3 members")

    # A moderator removes C in another process: open pages of the room drop C.
    slug = room.rstrip("/").rsplit("/", 1)[1]
    running.server.manage(
        "shell",
        "-c",
        f"from hubbub.contrib.chat.models import Room; room = Room.objects.get(slug='{slug}'); "
        f"room.members.remove(room.members.get(username='{c.name}'))",
    )
    for person in (a, b):
        expect(person.page.locator("#member-list .person-name")).to_have_text([a.name, b.name])
        expect(person.page.locator("#member-total")).to_have_text("2 members")
    assert b.page.evaluate("window.notReloaded") is True
    c.close()


def test_a_guest_sets_a_password_from_the_chat_page_and_signs_in_with_it(browser: Browser, running: Running) -> None:
    guest = Person(browser, running.url).join(unique("Ivy"))
    guest.page.get_by_role("link", name=f"{guest.name}: your account").click()
    guest.page.wait_for_url("**/account/")
    guest.page.get_by_label("New password", exact=True).fill("winter-tale-42")
    guest.page.get_by_label("New password confirmation").fill("winter-tale-43")
    guest.page.get_by_role("button", name="Set password").click()
    expect(guest.page.locator(".field-error")).to_contain_text("didn’t match")
    guest.page.get_by_label("New password", exact=True).fill("winter-tale-42")
    guest.page.get_by_label("New password confirmation").fill("winter-tale-42")
    guest.page.get_by_role("button", name="Set password").click()
    expect(guest.page.locator(".notice")).to_contain_text("Your password is set")

    guest.page.get_by_role("button", name="Sign out").click()
    expect(guest.page.get_by_role("button", name="Enter chat")).to_be_visible()
    guest.page.goto("/signin/")
    guest.page.get_by_label("Username").fill(guest.name)
    guest.page.get_by_label("Password").fill("winter-tale-42")
    guest.page.get_by_role("button", name="Sign in").click()
    guest.page.wait_for_url("**/rooms/general/")
    expect(guest.page.locator(".whoami-name")).to_have_text(guest.name)
    guest.close()


def screenshot_image() -> bytes:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 400), (250, 230, 190))
    draw = ImageDraw.Draw(image)
    draw.ellipse((220, 90, 420, 290), fill=(240, 150, 40))
    draw.rectangle((0, 300, 640, 400), fill=(70, 150, 90))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_room_screenshots(browser: Browser, running: Running) -> None:
    """The chat as people see it, with what it does: formatting, mentions, an edited message,
    reactions, an image, a direct conversation and unread counts; desktop and phone, light and
    dark (looked at by a person: test-artifacts/)."""
    shots = [
        ("chat-room-light", {"color_scheme": "light", "viewport": {"width": 1280, "height": 800}}),
        ("chat-room-dark", {"color_scheme": "dark", "viewport": {"width": 1280, "height": 800}}),
        ("chat-room-phone", {"color_scheme": "light", "viewport": {"width": 390, "height": 844}, "is_mobile": True}),
        (
            "chat-room-phone-dark",
            {"color_scheme": "dark", "viewport": {"width": 390, "height": 844}, "is_mobile": True},
        ),
    ]
    host = Person(browser, running.url).join(unique("Viola"))
    other_room = host.create_room(unique("Garden "))
    host.say("Seedlings are up 🌱")
    room = host.create_room(unique("Tour "))
    guest_name = unique("Puck")
    for text in [
        "Welcome to the tour! Messages arrive **live**, in every open tab.",
        "Formatting: *italic*, `code`, lists:\n- one\n- two\n\nand links: https://example.com",
        "A first draft of this line",
    ]:
        host.say(text)
    edited = host.page.locator("#message-list .message").last
    edited.hover()
    edited.get_by_role("button", name="Edit message").click()
    editor = edited.get_by_role("textbox", name="Edit message")
    editor.fill("This line was edited: see the mark beside the time")
    editor.press("Enter")
    expect(edited.locator(".message-edited")).to_be_visible()
    host.page.get_by_label("Attach a file").set_input_files(
        files=[{"name": "sunrise.png", "mimeType": "image/png", "buffer": screenshot_image()}]
    )
    host.say("The view this morning")
    expect(host.page.locator("#message-list .attachment-image img")).to_have_count(1)
    first = host.page.locator("#message-list .message").first
    for emoji in ("👍", "🎉"):
        first.hover()
        first.get_by_role("button", name="React to this message").click()
        first.get_by_role("button", name=f"React with {emoji}").click()
    expect(first.locator(".reaction")).to_have_count(2)
    ARTIFACTS.mkdir(exist_ok=True)
    for index, (name, options) in enumerate(shots):
        guest = Person(browser, running.url, **options).join(f"{guest_name}{index}")
        guest.open(other_room)  # a read marker there, so that what follows shows as unread
        guest.open(room)
        expect(guest.page.locator("#message-list .message")).to_have_count(4)
        expect(guest.page.locator("#message-list .attachment-image img")).to_have_js_property("complete", True)
        if index == 0:
            # A direct conversation with the host, and a message in the other room, unread.
            guest.page.locator("#presence-list").get_by_role("button", name=f"Message {host.name}").click()
            guest.say(f"@{host.name} are you free later?")
            guest.open(room)
        host.page.goto(other_room)
        host.say(f"New seeds for everyone, {guest.name}")
        host.page.goto(room)
        expect(guest.page.locator(".room-link .unread-count:not([hidden])").first).to_be_visible()
        guest.page.screenshot(path=ARTIFACTS / f"{name}.png")
        guest.close()
    host.page.goto("/rooms/")
    host.page.screenshot(path=ARTIFACTS / "chat-rooms.png")
    host.page.goto("/search/?q=seeds")
    expect(host.page.locator("mark").first).to_be_visible()
    host.page.screenshot(path=ARTIFACTS / "chat-search.png")
    host.close()


@pytest.mark.postgres
@pytest.mark.redis
def test_a_message_reaches_the_other_browser_on_the_scaled_deployment(
    browser: Browser, scaled_server: servers.Server
) -> None:
    a = Person(browser, scaled_server.url).join(unique("Ann"))
    b = Person(browser, scaled_server.url).join(unique("Ben"))
    room = a.create_room(unique("Scaled "))
    b.open(room)
    a.say("over PostgreSQL and Redis")
    expect(b.page.locator("#message-list .message-text")).to_have_text(["over PostgreSQL and Redis"])
    expect(b.page.locator("#presence-list")).to_contain_text(a.name)
    a.close()
    b.close()


# Reports every Content-Security-Policy violation of the page's documents into window.cspViolations.
WATCH_CSP = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


def test_the_pages_work_under_the_demos_content_security_policy(browser: Browser, running: Running) -> None:
    """The lobby, a room and the notification centre, with everything their scripts build live:
    no violation is reported, and the policy (default-src 'self', nothing inline) is sent."""
    visitor = Person(browser, running.url)
    other = Person(browser, running.url)
    reported: list[str] = []

    def console(message) -> None:
        if "Content Security Policy" in message.text:
            reported.append(message.text)

    for person in (visitor, other):
        person.context.add_init_script(WATCH_CSP)
        person.page.on("console", console)
    response = visitor.page.goto("/")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    visitor.join(unique("Csp"))
    visitor.expect_connected()
    other.join(unique("Pol"))
    room = other.create_room(unique("Policy "))
    visitor.open(room)
    other.say(f"hi @{visitor.name}")
    message = visitor.page.locator("#message-list .message").last
    expect(message.locator(".message-text")).to_have_text(f"hi @{visitor.name}")
    # The avatars' colours come from the stylesheet, for server-rendered and script-built ones alike.
    for avatar in (
        message.locator(".avatar"),
        visitor.page.locator(f'#presence-list [data-name="{other.name}"] .avatar'),
    ):
        expect(avatar).to_have_attribute("data-hubbub-hue", re.compile(r"^\d*0$"))
        hue = avatar.evaluate("(element) => getComputedStyle(element).getPropertyValue('--hue').trim()")
        assert hue == avatar.get_attribute("data-hubbub-hue")
    visitor.page.goto("/")
    expect(visitor.page.get_by_role("heading", name="Your rooms")).to_be_visible()
    response = visitor.page.goto("/notifications/")
    assert response is not None and "default-src 'self'" in response.headers["content-security-policy"]
    expect(visitor.page.locator("#notification-list li.notification")).to_have_count(1)
    other.say(f"again @{visitor.name}")  # arrives live: the bell's count, a toast, the list
    expect(visitor.page.locator("#notification-count")).to_have_text("2")
    expect(visitor.page.locator("#notification-toasts .notification-toast")).to_have_count(1)
    expect(visitor.page.locator("#notification-list li.notification")).to_have_count(2)
    for person in (visitor, other):
        assert person.page.evaluate("window.cspViolations") == []
    assert reported == []
    visitor.close()
    other.close()


HISTORY = """
from django.contrib.auth import get_user_model
from hubbub.contrib.chat.models import Message, Room
room = Room.objects.get(slug={slug!r})
author = get_user_model().objects.get(username={author!r})
Message.objects.bulk_create(Message(room=room, author=author, text=f"old {{i}}") for i in range({count}))
"""


def test_load_older_messages_goes_once_the_whole_history_is_shown(browser: Browser, running: Running) -> None:
    host = Person(browser, running.url).join(unique("Hero"))
    room = host.create_room(unique("Archive "))
    slug = room.rstrip("/").rsplit("/", 1)[-1]
    running.server.manage("shell", "-c", HISTORY.format(slug=slug, author=host.name, count=60))
    host.open(room)
    older = host.page.get_by_role("button", name="Load older messages")
    expect(older).to_be_visible()
    older.click()
    expect(host.page.locator("#message-list .message")).to_have_count(60)
    expect(host.page.locator("#history-start")).to_be_visible()
    expect(older).to_be_hidden()  # the hidden attribute wins over .button's display
    host.close()


def boxes_overlap(a: Locator, b: Locator) -> bool:
    first, second = a.bounding_box(), b.bounding_box()
    assert first and second
    return (
        first["x"] < second["x"] + second["width"]
        and second["x"] < first["x"] + first["width"]
        and first["y"] < second["y"] + second["height"]
        and second["y"] < first["y"] + first["height"]
    )


def test_notices_and_toasts_cover_neither_the_rooms_title_and_links_nor_the_composer(
    browser: Browser, running: Running
) -> None:
    guest = Person(browser, running.url, viewport={"width": 1280, "height": 760}).join(unique("Puck"))
    page = guest.page
    guest.expect_connected()
    notice = page.locator(".notice")
    expect(notice).to_contain_text(f"Welcome, {guest.name}!")
    covered = [page.locator("#room-title"), page.locator(".here-link"), page.locator("#composer")]
    for element in covered:
        assert not boxes_overlap(notice, element)

    running.server.manage("notify", "--user", guest.name, "--title", "Deploy finished", "--body", "all green")
    toast = page.locator("#notification-toasts .notification-toast")
    expect(toast).to_have_count(1)
    for element in [*covered, page.locator("#send-button")]:
        assert not boxes_overlap(toast, element)

    page.get_by_role("button", name=f"Dismiss: Welcome, {guest.name}!").click()
    expect(notice).to_have_count(0)
    expect(page.locator("#notices")).to_be_hidden()
    expect(page.locator("#room-title")).to_be_visible()
    guest.close()


def test_an_owner_renames_a_room_and_sets_its_topic_and_the_other_page_shows_them_live(
    people: tuple[Person, Person],
) -> None:
    a, b = people
    old, new = unique("Plans "), unique("Schemes ")
    room = a.create_room(old)
    b.open(room)
    expect(b.page.locator("#room-name")).to_have_text(old)
    expect(b.page.get_by_label("Room name")).to_have_count(0)  # the owner's settings are the owner's alone
    a.page.get_by_label("Room name").fill(new)
    a.page.get_by_label("Topic").fill("Where we plot")
    a.page.get_by_role("button", name="Save").click()
    expect(a.page.locator(".notice")).to_contain_text(f"Room “{new}” saved.")
    expect(b.page.locator("#room-name")).to_have_text(new)
    expect(b.page.locator("#room-topic")).to_have_text("Where we plot")
    expect(b.page.locator(".room-links .room-link--current .room-name")).to_have_text(new)
    expect(b.page).to_have_title(re.compile(re.escape(f"#{new}")))
    assert b.page.url == room  # the slug, and so the address, stays


def test_a_formatted_message_appears_formatted_live_and_the_composer_suggests_members(
    people: tuple[Person, Person],
) -> None:
    a, b = people
    room = a.create_room(unique("Formatting "))
    b.open(room)
    a.say(f"**bold** see https://example.org and @{b.name} <img src=x onerror=alert(1)>")
    last = b.page.locator("#message-list .message-text").last
    expect(last.locator("strong")).to_have_text("bold")
    link = last.get_by_role("link", name="https://example.org")
    expect(link).to_have_attribute("href", "https://example.org")
    expect(link).to_have_attribute("rel", "nofollow noopener noreferrer")
    expect(last.locator("span.mention")).to_have_text(f"@{b.name}")
    for person in (a, b):
        assert person.page.locator("#message-list img").count() == 0 and person.dialogs == []

    # @ and the start of a name: a listbox of members; the keyboard picks one, then the mouse.
    box = b.page.get_by_role("textbox", name="Message")
    box.press_sequentially(f"hi @{a.name[:-1]}")
    listbox = b.page.get_by_role("listbox", name="Room members")
    expect(listbox.get_by_role("option", name=a.name)).to_have_attribute("aria-selected", "true")
    box.press("Enter")
    expect(box).to_have_value(f"hi @{a.name} ")
    expect(listbox).to_be_hidden()
    box.press_sequentially(f"and @{b.name[:-2]}")
    listbox.get_by_role("option", name=b.name).click()
    expect(box).to_have_value(f"hi @{a.name} and @{b.name} ")
    box.press("Enter")
    expect(a.page.locator("#message-list .message-text").last.locator("span.mention")).to_have_text(
        [f"@{a.name}", f"@{b.name}"]
    )


USERS = """
from django.contrib.auth import get_user_model
for name in {names!r}:
    get_user_model().objects.create_user(username=name, password={password!r})
"""

DATED = """
import datetime
from django.contrib.auth import get_user_model
from hubbub.contrib.chat.models import Message, Room
room = Room.objects.get(slug={slug!r})
users = {{user.username: user for user in get_user_model().objects.filter(username__in={names!r})}}
Message.objects.bulk_create(
    Message(room=room, author=users[name], text=text, created=datetime.datetime.fromisoformat(when))
    for name, when, text in {rows!r}
)
"""


def a_zone_at_midday() -> tuple[str, datetime.timezone]:
    """A time zone (its IANA name, and itself) where it is now between noon and one o'clock."""
    offset = 12 - datetime.datetime.now(datetime.UTC).hour  # -11 to 12
    name = "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"  # Etc/GMT-5 is UTC+5
    return name, datetime.timezone(datetime.timedelta(hours=offset))


def test_messages_are_grouped_by_author_and_day_in_the_readers_time_zone_live_and_on_older_pages(
    browser: Browser, running: Running
) -> None:
    zone_name, zone = a_zone_at_midday()
    reader = {"timezone_id": zone_name, "locale": "en-GB"}
    names, password = [unique("Ann"), unique("Ben")], "grouped-by-day-42"
    running.server.manage("shell", "-c", USERS.format(names=names, password=password))
    a, b = (Person(browser, running.url, **reader).sign_in(name, password) for name in names)
    room = a.create_room(unique("Grouping "))
    slug = room.rstrip("/").rsplit("/", 1)[-1]

    now = datetime.datetime.now(zone)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday, long_ago = today - datetime.timedelta(days=1), today - datetime.timedelta(days=3)

    def at(day: datetime.datetime, hour: int, minute: int, second: int = 0) -> datetime.datetime:
        return day + datetime.timedelta(hours=hour, minutes=minute, seconds=second)

    rows = [
        (a.name, at(long_ago, 9, 0), "d1"),
        (a.name, at(yesterday, 10, 0), "y1"),
        (a.name, at(yesterday, 10, 2), "y2"),  # within 5 minutes: continues
        (a.name, at(yesterday, 10, 4), "y3"),
        (a.name, at(yesterday, 10, 20), "y4"),  # 16 minutes later: a new group
        (b.name, at(yesterday, 10, 21), "y5"),  # another author: a new group
        # A page (50) ends inside a run of Ann's: the first message shown continues f05 once it comes.
        *((a.name, at(today, 9, 0, 10 * i), f"f{i:02}") for i in range(55)),
        (a.name, now - datetime.timedelta(minutes=1), "latest"),
    ]
    rows = [(name, when.isoformat(), text) for name, when, text in rows]
    running.server.manage("shell", "-c", DATED.format(slug=slug, names=[a.name, b.name], rows=rows))
    a.open(room)
    b.open(room)

    def message(person: Person, text: str) -> Locator:
        return person.page.locator("#message-list .message").filter(has=person.page.get_by_text(text, exact=True))

    heads = b.page.locator("#message-list .message:not(.message--continued) .message-text")
    separators = b.page.locator("#message-list .day-separator")
    first_of_day = b.page.locator("#message-list .day-separator + .message .message-text")
    # The page as served: f06 heads today's messages (f07... continue it), "latest" starts a group.
    expect(b.page.locator("#message-list .message")).to_have_count(50)
    expect(separators).to_have_text(["Today"])
    expect(first_of_day).to_have_text(["f06"])
    expect(heads).to_have_text(["f06", "latest"])

    # Live: Ann's next message joins her group; Ben's starts one, and his second joins it.
    a.say("live one")
    b.say("hello")
    b.say("again")
    for person in (a, b):
        expect(person.page.locator("#message-list .message:not(.message--continued) .message-text")).to_have_text(
            ["f06", "latest", "hello"]
        )
    expect(message(b, "again")).to_have_class(re.compile(r"\bmessage--continued\b"))

    # An older page: the boundary is drawn again (f06 now continues f05), each day has one separator.
    b.page.get_by_role("button", name="Load older messages").click()
    expect(b.page.locator("#message-list .message")).to_have_count(65)
    long_ago_in_words = re.compile(rf"^{long_ago:%A}.*\b{long_ago.day}\b.*{long_ago:%B}")
    expect(separators).to_have_text([long_ago_in_words, "Yesterday", "Today"])
    expect(first_of_day).to_have_text(["d1", "y1", "f00"])
    expect(heads).to_have_text(["d1", "y1", "y4", "y5", "f00", "latest", "hello"])

    # Times in the reader's time zone; a continuation keeps its name and time for screen readers
    # and shows the time, with the full date as its title, on hover.
    expect(message(b, "y1").locator("time")).to_have_text("10:00")
    continued = message(b, "y2")
    expect(continued.locator(".avatar")).to_be_hidden()
    expect(continued.locator(".message-author")).to_have_text(a.name)
    expect(continued.locator("time")).to_have_attribute("title", re.compile(rf"{yesterday.year}.*10:02"))
    continued.hover()
    expect(continued.locator(".message-meta")).to_have_css("opacity", "1")
    a.close()
    b.close()


def message_with(person: Person, text: str) -> Locator:
    return person.page.locator("#message-list .message").filter(has=person.page.get_by_text(text, exact=True))


def test_the_author_edits_and_deletes_a_message_and_the_other_page_follows_live(
    people: tuple[Person, Person],
) -> None:
    a, b = people
    room = a.create_room(unique("Edits "))
    b.open(room)
    a.say("teh plan")
    a.say("a slip")
    b.say("from Ben")
    expect(b.page.locator("#message-list .message-text")).to_have_text(["teh plan", "a slip", "from Ben"])

    # Only one's own messages can be edited; the room's owner (A) may delete Ben's.
    expect(message_with(b, "teh plan").get_by_role("button", name="Edit message")).to_be_hidden()
    expect(message_with(b, "teh plan").get_by_role("button", name="Delete message")).to_be_hidden()
    expect(message_with(b, "from Ben").get_by_role("button", name="Edit message")).to_have_count(1)
    expect(message_with(a, "from Ben").get_by_role("button", name="Edit message")).to_be_hidden()

    # Edit with the keyboard: Escape cancels, Enter saves; the text goes through the formatting.
    mine = message_with(a, "teh plan")
    mine.hover()
    mine.get_by_role("button", name="Edit message").click()
    editor = a.page.get_by_role("textbox", name="Edit message")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("teh plan")
    editor.fill("changed my mind")
    editor.press("Escape")
    expect(editor).to_have_count(0)
    expect(a.page.locator("#message-list .message-text").first).to_have_text("teh plan")
    mine.get_by_role("button", name="Edit message").click()
    editor.fill(f"the **plan**, @{b.name}")
    editor.press("Enter")
    for person in (a, b):
        first = person.page.locator("#message-list .message").first
        expect(first.locator(".message-text")).to_have_text(f"the plan, @{b.name}")
        expect(first.locator(".message-text strong")).to_have_text("plan")
        expect(first.locator(".message-edited")).to_be_visible()
        expect(first.locator(".message-edited")).to_have_attribute("title", re.compile(r"^Edited "))

    # Delete after a question in place; Cancel keeps it.
    slip = message_with(a, "a slip")
    slip.hover()
    slip.get_by_role("button", name="Delete message").click()
    expect(slip.get_by_role("group", name="Delete this message?")).to_be_visible()
    slip.get_by_role("button", name="Cancel").click()
    expect(slip.get_by_role("group", name="Delete this message?")).to_have_count(0)
    slip.get_by_role("button", name="Delete message").click()
    slip.get_by_role("button", name="Yes, delete").click()
    ben = message_with(a, "from Ben")
    ben.hover()
    ben.get_by_role("button", name="Delete message").click()
    ben.get_by_role("button", name="Yes, delete").click()
    for person in (a, b):
        expect(person.page.locator("#message-list .message-text")).to_have_text([f"the plan, @{b.name}"])

    # A new page shows the edit, and neither deleted message.
    b.open(room)
    expect(b.page.locator("#message-list .message-text")).to_have_text([f"the plan, @{b.name}"])
    expect(b.page.locator("#message-list .message-edited")).to_be_visible()
    for person in (a, b):
        assert person.dialogs == []


def test_after_a_cut_the_page_shows_the_edits_and_deletions_it_missed(
    people: tuple[Person, Person], running: Running
) -> None:
    a, b = people
    room = a.create_room(unique("Resume edits "))
    b.open(room)
    for text in ["one", "two", "three"]:
        a.say(text)
    expect(b.page.locator("#message-list .message-text")).to_have_text(["one", "two", "three"])

    cut = HubCut(b.page)
    running.restart()
    expect(b.page.locator("#connection-status")).to_have_text("Reconnecting…")
    a.expect_connected()

    def edit(text: str, new: str) -> None:
        message = message_with(a, text)
        message.hover()
        message.get_by_role("button", name="Edit message").click()
        editor = a.page.get_by_role("textbox", name="Edit message")
        editor.fill(new)
        editor.press("Enter")
        expect(message_with(a, new)).to_have_count(1)

    edit("one", "one, first edit")
    edit("one, first edit", "one, second edit")
    message = message_with(a, "two")
    message.hover()
    message.get_by_role("button", name="Delete message").click()
    message.get_by_role("button", name="Yes, delete").click()
    a.say("four")
    edit("four", "four, edited")
    expect(a.page.locator("#message-list .message-text")).to_have_text(["one, second edit", "three", "four, edited"])
    assert b.texts() == ["one", "two", "three"]

    cut.restore()
    b.expect_reconnected()
    expect(b.page.locator("#message-list .message-text")).to_have_text(["one, second edit", "three", "four, edited"])
    expect(b.page.locator("#message-list .message-edited:visible")).to_have_count(2)


def test_reactions_toggle_live_with_who_reacted_and_a_cut_page_catches_up(
    people: tuple[Person, Person], running: Running
) -> None:
    a, b = people
    room = a.create_room(unique("Reactions "))
    b.open(room)
    a.say("lunch at noon?")
    message_b = message_with(b, "lunch at noon?")
    message_a = message_with(a, "lunch at noon?")

    # With the keyboard: the React button opens a picker (Escape closes it), Enter picks.
    react = message_b.get_by_role("button", name="React to this message")
    react.focus()
    react.press("Enter")
    picker = message_b.get_by_role("group", name="Choose a reaction")
    expect(picker.get_by_role("button")).to_have_count(6)
    expect(picker.get_by_role("button", name="React with 👍")).to_be_focused()
    b.page.keyboard.press("Escape")
    expect(picker).to_have_count(0)
    expect(react).to_be_focused()
    expect(react).to_have_attribute("aria-expanded", "false")
    react.press("Enter")
    b.page.keyboard.press("Enter")

    thumbs_a = message_a.locator('.reaction[data-emoji="👍"]')
    expect(thumbs_a).to_have_accessible_name(f"👍 1: {b.name}")
    expect(thumbs_a).to_have_attribute("aria-pressed", "false")
    expect(thumbs_a).to_have_attribute("title", b.name)
    thumbs_a.click()
    thumbs_b = message_b.locator('.reaction[data-emoji="👍"]')
    for thumbs in (thumbs_a, thumbs_b):
        expect(thumbs).to_have_accessible_name(f"👍 2: {a.name}, {b.name}")
        expect(thumbs.locator(".reaction-count")).to_have_text("2")
    expect(thumbs_a).to_have_attribute("aria-pressed", "true")
    expect(thumbs_b).to_have_attribute("aria-pressed", "true")
    thumbs_b.click()
    for thumbs in (thumbs_a, thumbs_b):
        expect(thumbs).to_have_accessible_name(f"👍 1: {a.name}")
    expect(thumbs_b).to_have_attribute("aria-pressed", "false")

    # Cut off, B misses a heart added and the thumb taken back; it catches up once, in order.
    cut = HubCut(b.page)
    running.restart()
    expect(b.page.locator("#connection-status")).to_have_text("Reconnecting…")
    a.expect_connected()
    message_a.hover()
    message_a.get_by_role("button", name="React to this message").click()
    message_a.get_by_role("button", name="React with ❤️").click()
    expect(message_a.locator(".reaction")).to_have_count(2)
    thumbs_a.click()
    expect(message_a.locator(".reaction")).to_have_count(1)
    expect(message_b.locator(".reaction")).to_have_count(1)
    expect(thumbs_b).to_have_count(1)

    cut.restore()
    b.expect_reconnected()
    expect(message_b.locator(".reaction")).to_have_count(1)
    expect(message_b.locator('.reaction[data-emoji="❤️"]')).to_have_accessible_name(f"❤️ 1: {a.name}")

    # A new page shows them as stored.
    b.open(room)
    served = message_with(b, "lunch at noon?").locator(".reaction")
    expect(served).to_have_count(1)
    expect(served).to_have_accessible_name(f"❤️ 1: {a.name}")


# Lets a test hide and show the page as a browser does when its tab goes to the background.
VISIBILITY = """
window.pageHidden = false;
Object.defineProperty(document, "visibilityState", { get: () => (window.pageHidden ? "hidden" : "visible") });
Object.defineProperty(document, "hidden", { get: () => window.pageHidden });
window.setPageHidden = (hidden) => {
  window.pageHidden = hidden;
  document.dispatchEvent(new Event("visibilitychange"));
};
"""


def unread_link(person: Person, name: str, page: Page | None = None) -> Locator:
    return (page or person.page).locator(".room-links .room-link", has_text=name)


def test_unread_counts_follow_live_in_every_tab_and_a_cut_tab_counts_each_message_once(
    people: tuple[Person, Person], running: Running
) -> None:
    a, b = people
    name = unique("Unread ")
    room = a.create_room(name)
    with b.page.expect_response(re.compile(r"/read/$")):
        b.open(room)  # viewed once: from now on its unread messages are counted
    b.open("/rooms/general/")
    rooms_tab = b.context.new_page()
    rooms_tab.goto("/rooms/")
    expect(unread_link(b, name, rooms_tab)).to_have_accessible_name(name)

    a.say("first news")
    a.say("second news")
    for page in (b.page, rooms_tab):
        expect(unread_link(b, name, page)).to_have_accessible_name(f"{name} (2 unread)")
        expect(unread_link(b, name, page).locator(".unread-count")).to_have_text("2")
    expect(b.page).to_have_title(re.compile(r"^\(2\) #General"))

    # Cut off, the rooms tab misses a message, then gets it once (not the two before again).
    cut = HubCut(rooms_tab)
    running.restart()
    a.expect_connected()
    b.expect_connected()
    a.say("third news")
    expect(unread_link(b, name)).to_have_accessible_name(f"{name} (3 unread)")
    expect(unread_link(b, name, rooms_tab)).to_have_accessible_name(f"{name} (2 unread)")  # cut off
    cut.restore()
    a.say("fourth news")
    expect(unread_link(b, name, rooms_tab)).to_have_accessible_name(f"{name} (4 unread)", timeout=RECONNECT_MS)
    expect(unread_link(b, name)).to_have_accessible_name(f"{name} (4 unread)")
    rooms_tab.wait_for_timeout(500)  # time for a replay that would count a message twice
    a.say("fifth news")
    for page in (b.page, rooms_tab):
        expect(unread_link(b, name, page)).to_have_accessible_name(f"{name} (5 unread)")
    expect(rooms_tab).to_have_title(re.compile(r"^\(5\) Rooms"))

    # Opening the room: a line where B left off, and the count goes in B's other tabs too.
    unread_link(b, name).click()
    b.page.wait_for_url(room)
    line = b.page.get_by_role("separator", name="New messages")
    expect(line).to_have_count(1)
    expect(b.page.locator(".unread-separator + .message .message-text")).to_have_text("first news")
    expect(unread_link(b, name, rooms_tab)).to_have_accessible_name(name)
    expect(unread_link(b, name, rooms_tab).locator(".unread-count")).to_be_hidden()
    expect(rooms_tab).to_have_title(re.compile(r"^Rooms"))
    expect(b.page).to_have_title(re.compile(rf"^#{re.escape(name)}"))
    rooms_tab.close()


def test_a_hidden_room_page_counts_in_its_title_and_marks_read_when_shown(
    people: tuple[Person, Person], browser: Browser
) -> None:
    a, b = people
    name = unique("Hidden ")
    room = a.create_room(name)
    b.context.add_init_script(VISIBILITY)
    b.open(room)
    a.say("while you look")
    expect(b.page.locator("#message-list .message-text")).to_have_text(["while you look"])
    b.page.evaluate("window.setPageHidden(true)")
    a.say("while you are away")
    a.say("and more")
    expect(b.page).to_have_title(re.compile(rf"^\(2\) #{re.escape(name)}"))
    expect(unread_link(b, name)).to_have_accessible_name(f"{name} (2 unread)")
    expect(b.page.locator(".unread-separator + .message .message-text")).to_have_text("while you are away")

    b.page.evaluate("window.setPageHidden(false)")
    expect(b.page).to_have_title(re.compile(rf"^#{re.escape(name)}"))
    expect(unread_link(b, name)).to_have_accessible_name(name)
    # Marked read on the server: a new page shows no count and no line.
    b.open("/rooms/general/")
    expect(unread_link(b, name)).to_have_accessible_name(name)
    b.open(room)
    expect(b.page.get_by_role("separator", name="New messages")).to_have_count(0)


def test_a_private_room_joined_counts_its_unread_messages_live_from_the_moment_of_joining(
    people: tuple[Person, Person],
) -> None:
    a, b = people
    b.expect_connected()
    name = unique("Joined ")
    room = a.create_room(name, private=True)
    a.say("before Ben joins")
    a.add_member(b.name)
    a.expect_connected()
    link = b.expect_private_room_link(name)
    a.say("welcome")
    a.say("are you there?")
    expect(link).to_have_accessible_name(f"{name} (private) (2 unread)")
    link.click()
    b.page.wait_for_url(room)
    expect(b.page.locator(".unread-separator + .message .message-text")).to_have_text("welcome")
    expect(b.expect_private_room_link(name).locator(".unread-count")).to_be_hidden()
