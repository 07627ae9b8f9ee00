"""Files in Chromium: attached with the button or pasted, an image's thumbnail reaching the other reader live."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser import HubCut

from . import test_browser
from .test_browser import Person, unique

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

# test_browser's fixtures: a server and a browser for this module, two people signed in.
running, browser, people = test_browser.running, test_browser.browser, test_browser.people


def png(size=(640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 160, 90)).save(out, format="PNG")
    return out.getvalue()


def test_an_attached_image_appears_as_a_thumbnail_in_the_other_browser_live(people: tuple[Person, Person]) -> None:
    a, b = people
    room = a.create_room(unique("Photos "))
    b.open(room)

    a.page.get_by_label("Attach a file").set_input_files(
        files=[{"name": "garden.png", "mimeType": "image/png", "buffer": png()}]
    )
    expect(a.page.locator("#composer-file-name")).to_contain_text("garden.png")
    a.say("the garden")
    expect(a.page.locator("#composer-file")).to_be_hidden()

    thumbnail = b.page.locator("#message-list .message").last.locator(".attachment-image img")
    expect(thumbnail).to_have_attribute("alt", "garden.png")
    expect(thumbnail).to_have_js_property("complete", True)
    assert thumbnail.evaluate("image => [image.naturalWidth, image.naturalHeight]") == [480, 360]
    expect(b.page.locator("#message-list .message-text").last).to_have_text("the garden")
    expect(b.page.locator("#message-list .attachment-name").last).to_have_text("garden.png")

    # Pasted into the box, a file goes alone (no text needed); a text file is a download link, no image.
    a.page.get_by_role("textbox", name="Message").focus()
    a.page.evaluate(
        """() => {
            const transfer = new DataTransfer();
            transfer.items.add(new File(["<script>alert(1)</script>"], "notes.png", { type: "image/png" }));
            document.getElementById("message-text").dispatchEvent(
                new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true }));
        }"""
    )
    expect(a.page.locator("#composer-file-name")).to_contain_text("notes.png")
    a.page.get_by_role("button", name="Send").click()
    last = b.page.locator("#message-list .message").last
    expect(last.locator(".attachment-name")).to_have_text("notes.png")
    expect(last.locator("img")).to_have_count(0)
    assert a.dialogs == [] and b.dialogs == []

    # Reloaded, the same: rendered by the server.
    b.open(room)
    expect(b.page.locator("#message-list .attachment-image img")).to_have_count(1)
    expect(b.page.locator("#message-list .attachment-name")).to_have_text(["garden.png", "notes.png"])


def test_a_file_over_the_limit_is_refused_before_it_is_sent(people: tuple[Person, Person]) -> None:
    a, _ = people
    a.expect_connected()
    shown = a.texts()
    limit = int(a.page.locator("[data-chat-room]").get_attribute("data-max-upload-bytes") or "0")
    a.page.get_by_label("Attach a file").set_input_files(
        files=[{"name": "huge.bin", "mimeType": "application/octet-stream", "buffer": b"x" * (limit + 1)}]
    )
    expect(a.page.locator("#composer-error")).to_contain_text("the limit is 10.0\u00a0MB")
    a.page.get_by_role("button", name="Send").click()
    expect(a.page.locator("#composer-error")).to_contain_text("Remove it or choose a smaller one")
    assert a.texts() == shown


def test_an_image_sent_during_a_cut_arrives_once_after_it(people: tuple[Person, Person], running) -> None:
    a, b = people
    room = a.create_room(unique("Resume "))
    b.open(room)
    cut = HubCut(b.page)
    running.restart()
    expect(b.page.locator("#connection-status")).to_have_text("Reconnecting…")
    a.expect_connected()
    a.page.get_by_label("Attach a file").set_input_files(
        files=[{"name": "missed.png", "mimeType": "image/png", "buffer": png((100, 100))}]
    )
    a.say("missed picture")
    expect(b.page.locator("#message-list .message")).to_have_count(0)

    cut.restore()
    b.expect_reconnected()
    expect(b.page.locator("#message-list .message-text")).to_have_text(["missed picture"])
    thumbnail = b.page.locator("#message-list .attachment-image img")
    expect(thumbnail).to_have_count(1)
    expect(thumbnail).to_have_js_property("complete", True)
    assert thumbnail.evaluate("image => image.naturalWidth") == 100
