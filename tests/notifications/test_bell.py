"""``{% notification_bell %}``: what a project puts in its own base template."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import Context, RequestContext, Template

import hubbub
from hubbub.contrib.notifications import notify
from hubbub.contrib.notifications.topics import user_topic

pytestmark = pytest.mark.django_db(transaction=True)

BELL = "{% load hubbub_notifications %}{% notification_bell %}"
CSS = '<link rel="stylesheet" href="/static/hubbub/notifications/notifications.css">'
JS = '<script type="module" src="/static/hubbub/notifications/notifications.js"></script>'


def render(source: str, context: Context) -> str:
    return Template(source).render(context)


def request_for(rf, user):
    request = rf.get("/anywhere/")
    request.user = user
    return request


def test_for_anonymous_visitors_it_renders_nothing(rf):
    assert render(BELL, Context({"request": request_for(rf, AnonymousUser())})).strip() == ""
    assert render(BELL, Context({"user": AnonymousUser()})).strip() == ""
    assert render(BELL, Context({})).strip() == ""


def test_with_only_the_request_it_renders_the_bell_with_its_stylesheet_script_and_position(rf, alice, bob):
    notify(alice, "one")
    newest = notify(alice, "two")
    notify(bob, "not alice's")
    position = hubbub.last_event_id()
    assert position != "earliest"

    html = render(BELL, Context({"request": request_for(rf, alice)}))
    assert html.count(CSS) == 1 and html.count(JS) == 1
    assert 'aria-label="Notifications: 2 unread"' in html
    assert f'data-topic="{user_topic(alice)}"' in html and f'data-newest="{newest.pk}"' in html
    assert f'data-last-event-id="{position}"' in html
    assert 'data-hub-module="/static/hubbub/hubbub.js"' in html and 'data-hub-url="/.well-known/mercure"' in html
    assert 'href="/notifications/"' in html
    assert re.search(r'id="notification-count"[^>]*>2</span>', html)


def test_with_only_the_user_it_renders_the_bell(alice):
    html = render(BELL, Context({"user": alice}))
    assert 'aria-label="Notifications: 0 unread"' in html and 'data-last-event-id="earliest"' in html
    assert re.search(r'id="notification-count"[^>]*hidden>0</span>', html)


def test_a_request_context_without_context_processors_is_enough(rf, alice):
    request = request_for(rf, alice)
    html = Template(BELL).render(RequestContext(request, {}, processors=[]))
    assert 'id="notification-bell"' in html


def test_the_stylesheet_and_script_come_once_per_request(rf, alice):
    request = request_for(rf, alice)
    source = BELL + "{% notification_assets %}{% notification_bell %}"
    html = render(source, Context({"request": request}))
    assert html.count(CSS) == 1 and html.count(JS) == 1
    # Another request (another page) gets them again; without a request, every use does.
    assert render(BELL, Context({"request": request_for(rf, alice)})).count(CSS) == 1
    assert render("{% load hubbub_notifications %}{% notification_assets %}" * 2, Context({})).count(JS) == 2


def test_the_old_include_still_renders_the_bell(rf, alice):
    html = render('{% include "hubbub/notifications/bell.html" %}', Context({"request": request_for(rf, alice)}))
    assert 'id="notification-bell"' in html


def test_badge_caps_at_99():
    source = "{% load hubbub_notifications %}{{ 7|badge }} {{ 99|badge }} {{ 100|badge }}"
    assert render(source, Context({})) == "7 99 99+"
