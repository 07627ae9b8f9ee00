"""Search in Chromium: results with marked, escaped snippets, and a permalink into old history."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from . import test_browser
from .test_browser import XSS, Person, Running, unique

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

# test_browser's fixtures: a server and a browser for this module, two people signed in.
running, browser, people = test_browser.running, test_browser.browser, test_browser.people

HISTORY = """
from django.contrib.auth import get_user_model
from hubbub.contrib.chat.models import Message, Room
room = Room.objects.get(slug={slug!r})
author = get_user_model().objects.get(username={author!r})
Message.objects.create(room=room, author=author, text={first!r})
Message.objects.bulk_create(Message(room=room, author=author, text=f"later {{i}}") for i in range(70))
"""


def test_a_search_result_opens_its_message_in_old_history_and_newer_ones_follow_once_each(
    people: tuple[Person, Person], running: Running
) -> None:
    a, b = people
    word = unique("quokka")
    room = a.create_room(unique("Zoo "))
    slug = room.rstrip("/").rsplit("/", 1)[-1]
    running.server.manage("shell", "-c", HISTORY.format(slug=slug, author=a.name, first=f"{XSS} the {word} plan"))

    a.page.goto(f"/search/?q={word}")
    result = a.page.locator(".search-result")
    expect(result).to_have_count(1)
    expect(result.locator("mark")).to_have_text(word)
    expect(result.locator(".search-result-snippet")).to_contain_text("the")
    expect(result.locator(".search-result-author")).to_have_text(a.name)
    assert a.page.locator(".search-results img").count() == 0 and a.dialogs == []

    result.get_by_role("link").click()
    a.page.wait_for_url(f"**/rooms/{slug}/?around=*")
    a.expect_connected()
    target = a.page.locator(".message--target")
    expect(target.locator(".message-text")).to_have_text(f"{XSS} the {word} plan")
    expect(target).to_be_in_viewport()
    expect(a.page.locator("#jump-to-latest")).to_be_visible()
    shown_at_first = a.page.locator("#message-list .message").count()
    assert shown_at_first < 71

    # A message posted meanwhile waits for the newer pages, then shows once, last.
    b.open(room)
    b.say("fresh news")
    expect(b.page.locator("#message-list .message-text").last).to_have_text("fresh news")
    expect(a.page.locator("#message-list .message")).to_have_count(shown_at_first)
    # Scrolling down brings the newer pages, one each time the bottom is reached.
    scroller, messages = a.page.locator("#chat-scroller"), a.page.locator("#message-list .message")
    for _ in range(20):
        if messages.count() == 72:
            break
        scroller.evaluate("element => { element.scrollTop = element.scrollHeight; }")
        a.page.wait_for_timeout(200)
    expect(messages).to_have_count(72)
    expect(a.page.get_by_role("button", name="Load newer messages")).to_be_hidden()
    texts = a.texts()
    assert texts[0] == f"{XSS} the {word} plan" and texts[-1] == "fresh news"
    assert texts[1:-1] == [f"later {i}" for i in range(70)]
    expect(a.page.locator("#jump-to-latest")).to_be_hidden()

    # Live again: the next message arrives at once.
    b.say("and more")
    expect(a.page.locator("#message-list .message-text").last).to_have_text("and more")
    assert a.texts().count("fresh news") == 1

    # A private room's message is not found by someone outside it.
    secret = a.create_room(unique("Den "), private=True)
    a.say(f"{word} in private")
    b.page.goto(f"/search/?q={word}")
    expect(b.page.locator(".search-result")).to_have_count(1)
    a.page.goto(f"/search/?q={word}")
    expect(a.page.locator(".search-result")).to_have_count(2)
    assert secret
