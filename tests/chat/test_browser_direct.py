"""Direct messages in Chromium: started from a person's name, live in the other person's lists."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import HubCut

from . import test_browser
from .test_browser import Person, Running, unique

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

# test_browser's fixtures: a server and a browser for this module, two people signed in.
running, browser, people = test_browser.running, test_browser.browser, test_browser.people


def test_a_direct_conversation_starts_from_a_name_and_reaches_the_other_person_live(
    people: tuple[Person, Person], running: Running
) -> None:
    a, b = people
    a.expect_connected()
    b.expect_connected()
    expect(a.page.locator("#presence-list")).to_contain_text(b.name)
    expect(a.page.locator("#presence-list .person", has_text=a.name).get_by_role("button")).to_have_count(0)

    a.page.locator("#presence-list").get_by_role("button", name=f"Message {b.name}").click()
    a.page.wait_for_url("**/rooms/dm-*/")
    url = a.page.url
    a.expect_connected()
    expect(a.page.locator("#room-name")).to_have_text(b.name)
    expect(a.page.locator("#direct .room-link--current")).to_have_accessible_name(f"{b.name} (direct messages)")

    # B, still in the room it had open, sees the conversation in its Direct messages, named after A.
    link = b.page.locator("#direct .room-link", has_text=a.name)
    expect(link).to_have_count(1)
    expect(link).to_have_accessible_name(f"{a.name} (direct messages)")
    expect(b.page.locator("#rooms .room-link", has_text=a.name)).to_have_count(0)
    link.click()
    b.page.wait_for_url(url)
    b.expect_connected()
    expect(b.page.locator("#room-name")).to_have_text(a.name)

    a.say("just between us")
    expect(b.page.locator("#message-list .message-text")).to_have_text(["just between us"])
    b.say("agreed")
    expect(a.page.locator("#message-list .message-text")).to_have_text(["just between us", "agreed"])

    # Starting again from B's side opens the same conversation.
    b.page.get_by_label("Start a conversation with").fill(a.name)
    b.page.get_by_role("button", name="Start").click()
    b.page.wait_for_url(url)
    expect(b.page.locator("#message-list .message-text")).to_have_text(["just between us", "agreed"])

    # A third person cannot open it.
    outsider = Person(a.context.browser, running.url).join(unique("Cy"))
    response = outsider.page.goto(url)
    assert response is not None and response.status == 403
    expect(outsider.page.locator("#direct .room-link")).to_have_count(0)
    outsider.close()


def test_a_conversation_started_during_a_cut_appears_once_after_it(
    people: tuple[Person, Person], running: Running
) -> None:
    a, b = people
    b.expect_connected()
    cut = HubCut(b.page)
    running.restart()
    expect(b.page.locator("#connection-status")).to_have_text("Reconnecting…")
    a.page.goto("/rooms/")
    a.page.get_by_label("Start a conversation with").fill(b.name)
    a.page.get_by_role("button", name="Start").click()
    a.page.wait_for_url("**/rooms/dm-*/")
    a.expect_connected()
    a.say("while you were away")
    expect(b.page.locator("#direct .room-link")).to_have_count(0)

    cut.restore()
    b.expect_reconnected()
    link = b.page.locator("#direct .room-link")
    expect(link).to_have_count(1)
    expect(link.locator(".room-name")).to_have_text(a.name)
    link.click()
    b.page.wait_for_url(a.page.url)
    expect(b.page.locator("#message-list .message-text")).to_have_text(["while you were away"])
