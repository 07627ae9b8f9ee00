"""What the pages of the contrib apps share: the project's base template, which they extend.

Every page of ``hubbub.contrib.chat`` and ``hubbub.contrib.notifications`` extends the
template named by the ``HUBBUB_BASE_TEMPLATE`` setting (default ``"base.html"``), which the
project provides, so that the pages sit inside the project's own layout. The views put the
name in the context as ``hubbub_base_template``; the templates start with
``{% extends hubbub_base_template|default:"base.html" %}``.

Blocks the pages fill (see ``BLOCKS``):

- ``content`` (required): the page itself. Everything a page needs is inside it: its
  stylesheets, its scripts and the hub position it resumes from, so a base template needs
  nothing else.
- ``title`` (optional): the text of ``<title>``.
- ``body_class`` (optional): classes of ``<body>``; the chat's room page sets
  ``page-room``, its lobby and sign-in pages ``page-lobby``.

A system check of each app (``hubbub_chat.E001``, ``hubbub_notifications.E001``) reports a
base template that cannot be loaded or has no ``content`` block; ``….E002`` an app whose own
templates cannot be found (``APP_DIRS`` off and no app directories loader).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core import checks
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render as django_render
from django.template import Engine, TemplateDoesNotExist, TemplateSyntaxError, engines
from django.template.backends.django import DjangoTemplates
from django.template.base import FilterExpression, NodeList, Template
from django.template.loader_tags import BlockNode, ExtendsNode

SETTING = "HUBBUB_BASE_TEMPLATE"
DEFAULT = "base.html"
CONTEXT_NAME = "hubbub_base_template"
REQUIRED_BLOCK = "content"
BLOCKS = {
    "content": "required: the page",
    "title": "optional: the text of <title>",
    "body_class": "optional: classes of <body>",
}


def base_template() -> str:
    """The name of the template every contrib page extends."""
    return getattr(settings, SETTING, DEFAULT)


def page_context(context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``context`` with the base template's name added, as the contrib templates expect it."""
    return {CONTEXT_NAME: base_template(), **(context or {})}


def render(
    request: HttpRequest, template_name: str, context: Mapping[str, Any] | None = None, status: int | None = None
) -> HttpResponse:
    """``django.shortcuts.render`` for a contrib page: its base template is the project's."""
    return django_render(request, template_name, page_context(context), status=status)


# The system check


def check_base_template(app_id: str, app_name: str, page: str) -> list[checks.CheckMessage]:
    """Errors ``<app_id>.E001`` (the base template cannot be used) and ``.E002`` (the app's own
    page ``page`` cannot be found) for the app ``app_name``."""
    engine = _engine_with(page)
    if engine is None:
        return [
            checks.Error(
                f"{app_name}'s templates (such as {page!r}) cannot be found by a Django template engine.",
                hint=(
                    "Add a 'django.template.backends.django.DjangoTemplates' engine to TEMPLATES "
                    "with 'APP_DIRS': True (or the 'django.template.loaders.app_directories.Loader' loader)."
                ),
                id=f"{app_id}.E002",
            )
        ]
    name = base_template()
    where = (
        f"{SETTING} = {name!r}"
        if hasattr(settings, SETTING)
        else f"The base template {name!r} (the default of {SETTING})"
    )
    hint = (
        f"{app_name}'s pages extend it: create it in a folder of TEMPLATES' 'DIRS' with "
        "{% block title %}{% endblock %} in <title> and {% block content %}{% endblock %} where a page goes, "
        f"or set {SETTING} to the name of your site's base template."
    )
    try:
        template = engine.get_template(name)
        blocks = _rendered_blocks(engine, template)
    except TemplateDoesNotExist as error:
        missing = (
            f" (it extends {error.args[0]!r}, which cannot be found)" if error.args and error.args[0] != name else ""
        )
        return [checks.Error(f"{where} cannot be found{missing}.", hint=hint, id=f"{app_id}.E001")]
    except TemplateSyntaxError as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return [
            checks.Error(
                f"{where} cannot be loaded: {reason}",
                hint=f"Fix the template, or set {SETTING} to the name of a base template that loads.",
                id=f"{app_id}.E001",
            )
        ]
    if blocks is not None and REQUIRED_BLOCK not in blocks:
        return [
            checks.Error(
                f"{where} has no {{% block {REQUIRED_BLOCK} %}}: {app_name}'s pages would render empty.",
                hint=f"Add {{% block {REQUIRED_BLOCK} %}}{{% endblock %}} to it where a page's content goes.",
                id=f"{app_id}.E001",
            )
        ]
    return []


def _engine_with(page: str) -> Engine | None:
    """The first Django template engine that finds ``page``: the one that renders the app's pages."""
    for backend in engines.all():
        if not isinstance(backend, DjangoTemplates):
            continue
        try:
            backend.engine.find_template(page)
        except TemplateDoesNotExist:
            continue
        return backend.engine
    return None


def _rendered_blocks(engine: Engine, template: Template, depth: int = 0) -> set[str] | None:
    """The names of the blocks that a page extending ``template`` can fill; None when that
    cannot be known without rendering (a parent chosen at render time)."""
    extends = [node for node in template.nodelist.get_nodes_by_type(ExtendsNode) if isinstance(node, ExtendsNode)]
    if not extends:
        return _block_names(template.nodelist)
    node = extends[0]
    parent = node.parent_name
    if not isinstance(parent, FilterExpression) or parent.filters or not isinstance(parent.var, str) or depth >= 10:
        return None
    name: str = parent.var
    if name == template.origin.template_name:
        # {% extends "base.html" %} in a base.html: the next one in the search path.
        parent_template = engine.find_template(name, skip=[template.origin])[0]
    else:
        parent_template = engine.get_template(name)
    parent_blocks = _rendered_blocks(engine, parent_template, depth + 1)
    if parent_blocks is None:
        return None
    blocks = set(parent_blocks)
    for block in node.blocks.values():
        if block.name in parent_blocks:
            blocks |= _block_names(block.nodelist)
    return blocks


def _block_names(nodelist: NodeList) -> set[str]:
    return {node.name for node in nodelist.get_nodes_by_type(BlockNode) if isinstance(node, BlockNode)}
