"""The contrib pages extend the project's base template (HUBBUB_BASE_TEMPLATE), and each app's
system check says when that template cannot serve (hubbub.contrib.pages)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core import checks
from django.test import Client

from hubbub.contrib.notifications import notify

TEMPLATES_DIR = Path(__file__).parent / "templates"
APPS = ["hubbub_chat", "hubbub_notifications"]


@pytest.fixture
def plain_templates(settings):
    """The project's template folders plus this one (plain/...: small base templates)."""
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], TEMPLATES_DIR]}]
    return settings


def template_errors() -> list[checks.CheckMessage]:
    """The contrib apps' template errors, by id (the order in which checks run is not fixed)."""
    messages = checks.run_checks(tags=[checks.Tags.templates])
    return sorted((message for message in messages if message.id.startswith("hubbub_")), key=lambda m: m.id)


def test_the_project_base_template_passes_both_checks():
    assert template_errors() == []


@pytest.mark.parametrize("name", ["plain/base.html", "plain/extends_base.html"])
def test_a_base_template_with_a_content_block_passes_even_through_a_parent(plain_templates, name):
    plain_templates.HUBBUB_BASE_TEMPLATE = name
    assert template_errors() == []


def test_a_missing_base_template_is_an_error_of_each_app_with_a_hint(settings):
    settings.HUBBUB_BASE_TEMPLATE = "nowhere/base.html"
    errors = template_errors()
    assert sorted(error.id for error in errors) == ["hubbub_chat.E001", "hubbub_notifications.E001"]
    for error in errors:
        assert error.level == checks.ERROR
        assert error.msg == "HUBBUB_BASE_TEMPLATE = 'nowhere/base.html' cannot be found."
        assert "{% block content %}{% endblock %}" in error.hint and "set HUBBUB_BASE_TEMPLATE" in error.hint


def test_the_default_base_template_missing_names_the_setting(settings):
    pages = {"hubbub/chat/room.html": "", "hubbub/notifications/list.html": ""}
    loaders = [("django.template.loaders.locmem.Loader", pages)]
    options = {**settings.TEMPLATES[0]["OPTIONS"], "loaders": loaders}
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [], "APP_DIRS": False, "OPTIONS": options}]
    errors = template_errors()
    assert {error.id for error in errors} == {"hubbub_chat.E001", "hubbub_notifications.E001"}
    assert errors[0].msg == "The base template 'base.html' (the default of HUBBUB_BASE_TEMPLATE) cannot be found."


def test_a_base_template_without_a_content_block_is_an_error(plain_templates):
    plain_templates.HUBBUB_BASE_TEMPLATE = "plain/no_content.html"
    errors = template_errors()
    assert sorted(error.id for error in errors) == ["hubbub_chat.E001", "hubbub_notifications.E001"]
    assert "has no {% block content %}" in errors[1].msg and "hubbub.contrib.notifications's pages" in errors[1].msg
    assert errors[1].hint == "Add {% block content %}{% endblock %} to it where a page's content goes."


def test_a_base_template_whose_parent_is_missing_says_which(plain_templates):
    plain_templates.HUBBUB_BASE_TEMPLATE = "plain/extends_missing.html"
    (error,) = [error for error in template_errors() if error.id == "hubbub_notifications.E001"]
    assert error.msg == (
        "HUBBUB_BASE_TEMPLATE = 'plain/extends_missing.html' cannot be found "
        "(it extends 'plain/nowhere.html', which cannot be found)."
    )


def test_a_base_template_that_does_not_compile_is_an_error(plain_templates):
    plain_templates.HUBBUB_BASE_TEMPLATE = "plain/broken.html"
    (error,) = [error for error in template_errors() if error.id == "hubbub_notifications.E001"]
    assert error.msg.startswith("HUBBUB_BASE_TEMPLATE = 'plain/broken.html' cannot be loaded: ")
    assert "\n" not in error.msg and error.hint.startswith("Fix the template")


def test_apps_whose_templates_cannot_be_found_are_told_how_to_find_them(settings):
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "APP_DIRS": False}]
    errors = template_errors()
    assert sorted(error.id for error in errors) == ["hubbub_chat.E002", "hubbub_notifications.E002"]
    assert "'APP_DIRS': True" in errors[1].hint


def test_the_checks_of_an_app_run_only_when_asked_for_it(settings):
    settings.HUBBUB_BASE_TEMPLATE = "nowhere/base.html"
    from django.apps import apps

    messages = checks.run_checks(
        app_configs=[apps.get_app_config("hubbub_notifications")], tags=[checks.Tags.templates]
    )
    assert [message.id for message in messages if message.id.startswith("hubbub_")] == ["hubbub_notifications.E001"]


@pytest.mark.django_db
def test_the_notification_centre_extends_the_base_template_of_the_setting(plain_templates, alice):
    plain_templates.HUBBUB_BASE_TEMPLATE = "plain/base.html"
    notify(alice, "Inside the plain base")
    client = Client()
    client.force_login(alice)
    response = client.get("/notifications/")
    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["hubbub_base_template"] == "plain/base.html"
    assert "<title>Notifications | Plain site</title>" in html and "data-plain-base" in html
    assert "Inside the plain base" in html
    # The plain base's own bell, once, and the page's stylesheet and script, once.
    assert html.count('id="notification-bell"') == 1
    assert html.count("notifications.css") == 1 and html.count("notifications.js") == 1
    assert "site-header" not in html  # not the demo's base.html


@pytest.mark.django_db
def test_a_page_rendered_without_the_setting_in_its_context_extends_base_html(alice, rf):
    from django.contrib.auth.models import AnonymousUser
    from django.template.loader import render_to_string

    request = rf.get("/")
    request.user = AnonymousUser()
    html = render_to_string("hubbub/chat/error.html", {"status": 400, "reason": "r"}, request=request)
    assert "site-header" in html  # the project's base.html (the demo's)


@pytest.mark.django_db
def test_the_urls_can_be_included_under_another_path_and_namespace(plain_templates, alice):
    plain_templates.HUBBUB_BASE_TEMPLATE = "plain/base.html"
    plain_templates.ROOT_URLCONF = "tests.notifications.urls_namespaced"
    notification = notify(alice, "Elsewhere")
    client = Client()
    client.force_login(alice)
    html = client.get("/alerts/notifications/").content.decode()
    assert 'class="notification-bell" id="notification-bell" href="/alerts/notifications/"' in html
    assert 'action="/alerts/notifications/read/"' in html
    assert f'action="/alerts/notifications/{notification.pk}/read/"' in html
    response = client.post(f"/alerts/notifications/{notification.pk}/read/")
    assert (response.status_code, response["Location"]) == (302, "/alerts/notifications/")


@pytest.mark.django_db
def test_the_optional_context_processor_still_gives_the_hub_url_and_a_lazy_position(rf, django_assert_num_queries):
    from hubbub.context_processors import hub

    context = hub(rf.get("/"))
    assert context["hub_url"] == "/.well-known/mercure"
    with django_assert_num_queries(0):
        hub(rf.get("/"))  # the position is read only when a template uses it
    assert str(context["hub_last_event_id"]) == "earliest"


def test_the_notification_centre_and_the_bell_have_no_inline_scripts_styles_or_handlers(alice):
    """So that they work under the demo's policy, default-src 'self' (the demo's base template too)."""
    from tests.chat.test_pages import inline_code

    notify(alice, "Build <i>done</i>", body="all green", url="/builds/1/", level="success")
    client = Client()
    client.force_login(alice)
    html = client.get("/notifications/").content.decode()
    assert 'id="notification-bell"' in html and "Build &lt;i&gt;done&lt;/i&gt;" in html
    assert inline_code(html) == {}
