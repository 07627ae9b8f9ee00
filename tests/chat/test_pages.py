"""The chat's pages extend the project's base template (HUBBUB_BASE_TEMPLATE) and bring what
they need inside its content block; hubbub_chat.E001 says when that template cannot serve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.core import checks
from django.test import Client

import hubbub.contrib.chat

from .conftest import client_for

BASE = """<!doctype html><html><head><title>{% block title %}{% endblock %} (mine)</title></head>
<body class="{% block body_class %}{% endblock %}" data-my-base>
<main>{% block content %}{% endblock %}</main>
</body></html>"""
BARE = "<html><body data-bare>{% block content %}{% endblock %}</body></html>"


@pytest.fixture
def my_templates(settings, tmp_path):
    (tmp_path / "mysite").mkdir()
    (tmp_path / "mysite" / "layout.html").write_text(BASE)
    (tmp_path / "mysite" / "bare.html").write_text(BARE)
    (tmp_path / "mysite" / "headless.html").write_text("<html><body>{% block main %}{% endblock %}</body></html>")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
    return settings


@pytest.mark.parametrize(
    "path, title, body_class",
    [
        ("/", "Lobby (mine)", "page-lobby"),
        ("/signin/", "Sign in (mine)", "page-lobby"),
        ("/rooms/", "Rooms (mine)", ""),
        ("/rooms/general/", "#General (mine)", "page-room"),
        ("/account/", "Your account (mine)", ""),
    ],
)
def test_every_page_extends_the_base_template_of_the_setting(my_templates, alice, general, path, title, body_class):
    my_templates.HUBBUB_BASE_TEMPLATE = "mysite/layout.html"
    client = Client() if path in ("/", "/signin/") else client_for(alice)
    response = client.get(path)
    html = response.content.decode()
    assert response.status_code == 200
    assert f"<title>{title}</title>" in html and "data-my-base" in html
    assert f'<body class="{body_class}" data-my-base>' in html
    assert "site-header" not in html


def test_a_room_needs_only_the_content_block_to_stay_live(my_templates, alice, general):
    my_templates.HUBBUB_BASE_TEMPLATE = "mysite/bare.html"
    html = client_for(alice).get("/rooms/general/").content.decode()
    content = html.split("<body data-bare>")[1]
    assert '<link rel="mercure" href="/.well-known/mercure" data-last-event-id="earliest">' in content
    assert '<script type="module" src="/static/hubbub/chat/chat.js"></script>' in content
    assert '<script type="module" src="/static/hubbub/chat/rooms.js"></script>' in content


STYLESHEET = '<link rel="stylesheet" href="/static/hubbub/chat/chat.css">'


@pytest.mark.parametrize("path", ["/", "/signin/", "/rooms/", "/rooms/general/", "/account/", "/rooms/secret/"])
def test_every_page_links_the_chat_stylesheet_once_inside_its_content(my_templates, alice, bob, general, path):
    from hubbub.contrib.chat.models import Room

    my_templates.HUBBUB_BASE_TEMPLATE = "mysite/bare.html"
    Room.objects.create(slug="secret", name="Secret", is_private=True, created_by=bob)  # alice: 403, error.html
    response = (Client() if path in ("/", "/signin/") else client_for(alice)).get(path)
    html = response.content.decode()
    assert response.status_code == (403 if path == "/rooms/secret/" else 200)
    assert html.count("chat.css") == 1
    assert STYLESHEET in html.split("<body data-bare>")[1]


def test_the_stylesheet_ships_in_the_app_and_stands_alone():
    found = finders.find("hubbub/chat/chat.css")
    app_static = Path(hubbub.contrib.chat.__file__).resolve().parent / "static"
    assert found is not None and Path(found).resolve().is_relative_to(app_static)
    css = Path(found).read_text()
    # Nothing from elsewhere: no imports, fonts or images; every custom property it reads is its
    # own or has a default (the --hubbub-* ones a project may set).
    assert "@import" not in css and "url(" not in css
    defined = set(re.findall(r"(--[\w-]+)\s*:", css))
    without_default = set(re.findall(r"var\((--[\w-]+)\s*\)", css))
    assert without_default <= defined, without_default - defined
    assert all(name.startswith("--hubbub-") for name in re.findall(r"var\((--[\w-]+)\s*,", css))
    assert "@media (prefers-color-scheme: dark)" in css and "@media (max-width: 760px)" in css


def test_an_error_page_extends_it_too(my_templates, alice, bob):
    from hubbub.contrib.chat.models import Room

    my_templates.HUBBUB_BASE_TEMPLATE = "mysite/layout.html"
    room = Room.objects.create(slug="secret", name="Secret", is_private=True, created_by=bob)
    response = client_for(alice).get(room.get_absolute_url())
    assert response.status_code == 403 and "data-my-base" in response.content.decode()


def test_the_chat_check_reports_a_base_without_a_content_block(my_templates):
    my_templates.HUBBUB_BASE_TEMPLATE = "mysite/headless.html"
    errors = [m for m in checks.run_checks(tags=[checks.Tags.templates]) if m.id == "hubbub_chat.E001"]
    assert len(errors) == 1
    assert errors[0].msg == (
        "HUBBUB_BASE_TEMPLATE = 'mysite/headless.html' has no {% block content %}: "
        "hubbub.contrib.chat's pages would render empty."
    )


INLINE = {
    "style attribute": re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE),
    "style element": re.compile(r"<style[\s>]", re.IGNORECASE),
    "inline script": re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE),
    "event handler attribute": re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


def inline_code(html: str) -> dict[str, list[str]]:
    """What a Content-Security-Policy without 'unsafe-inline' would block in a page."""
    return {what: found for what, pattern in INLINE.items() if (found := pattern.findall(html))}


@pytest.mark.parametrize("path", ["/", "/signin/", "/rooms/", "/rooms/general/", "/account/", "/rooms/secret/"])
def test_no_page_has_inline_scripts_styles_or_handlers(alice, bob, general, path):
    """So that they work under the demo's policy, default-src 'self' (the demo's base template too)."""
    from hubbub.contrib.chat import presence
    from hubbub.contrib.chat.models import Message, Room

    Room.objects.create(slug="secret", name="Secret", is_private=True, created_by=bob)  # alice: 403, error.html
    Message.objects.create(room=general, author=bob, text="hi <b>alice</b>")
    presence.update(general, bob, "tab-1", open=True)
    for client in (Client(), client_for(alice)):
        response = client.get(path)
        assert response.status_code in (200, 302, 403)
        assert inline_code(response.content.decode()) == {}
