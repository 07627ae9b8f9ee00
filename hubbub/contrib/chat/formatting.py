"""A message's text as HTML: a small Markdown subset (bold, italic, code, code blocks, quotes,
lists, links), bare http(s) addresses made links, ``@name`` of a room member highlighted.

The one rendering of a message: the room page (the ``message_html`` template filter), the
live event and the history pages (``events.message_data``'s ``html``) all use ``to_html``,
and chat.js inserts that HTML as it is. The stored text stays the raw text.

Two layers keep user text from becoming markup: markdown-it renders with raw HTML off and
links limited to http, https and mailto; then nh3 (an allowlist sanitizer) keeps only the
tags and attributes this subset makes, and gives every link ``rel="nofollow noopener noreferrer"``
and ``target="_blank"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import nh3
from django.contrib.auth import get_user_model
from django.db.models import Q
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from .models import Room

SCHEMES = ("http:", "https:", "mailto:")
REL = "nofollow noopener noreferrer"
TAGS = {"p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "span"}
# A bare address: up to whitespace or "<"; trailing punctuation is the sentence's, not the link's.
BARE_URL = r"\b(?:https?://|mailto:)[^\s<]+[^\s<.,;:!?\"'()\[\]{}]"
# A mention: "@" not inside a word (so "ada@example.org" is no mention), a username's characters.
MENTION = r"(?<![\w@])@([\w.+-]*[\w+-])"
TOKENS = re.compile(f"(?P<url>{BARE_URL})|(?P<mention>{MENTION})")
# More mentions than this in one message are left plain (one query looks them all up).
MAX_MENTIONS = 20


def link_allowed(url: str) -> bool:
    return url.strip().lower().startswith(SCHEMES)


def _bare_links_and_mentions(state: StateCore) -> None:
    """Split the text outside links and code into text, bare links and mentions."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        in_link = 0
        for token in block.children:
            if token.type == "link_open":
                in_link += 1
            elif token.type == "link_close":
                in_link -= 1
            if token.type != "text" or in_link or not TOKENS.search(token.content):
                children.append(token)
                continue
            children.extend(_split(token.content, state))
        block.children = children


def _split(text: str, state: StateCore) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    for match in TOKENS.finditer(text):
        if match.start() > position:
            tokens.append(_text(text[position : match.start()]))
        if match["url"]:
            url = state.md.normalizeLink(match["url"])
            if state.md.validateLink(url):
                link = Token("link_open", "a", 1)
                link.attrs = {"href": url}
                tokens += [link, _text(match["url"]), Token("link_close", "a", -1)]
            else:
                tokens.append(_text(match["url"]))
        else:
            mention = Token("mention", "span", 0)
            mention.content = match["mention"]
            mention.meta = {"name": match[3]}
            tokens.append(mention)
        position = match.end()
    if position < len(text):
        tokens.append(_text(text[position:]))
    return tokens


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


def _render_mention(self: RendererHTML, tokens: Sequence[Token], index: int, options: OptionsDict, env: EnvType) -> str:
    token = tokens[index]
    if token.meta["name"].lower() in env.get("members", ()):
        return f'<span class="mention">{escapeHtml(token.content)}</span>'
    return escapeHtml(token.content)


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False})
    # The subset: no headings, rules, images, raw HTML or reference definitions.
    md.disable(["heading", "lheading", "hr", "image", "html_block", "html_inline", "reference"])
    md.validateLink = link_allowed  # type: ignore[method-assign]
    md.core.ruler.push("hubbub_bare_links_and_mentions", _bare_links_and_mentions)
    render: Callable[..., str] = _render_mention
    md.add_render_rule("mention", render)
    return md


MARKDOWN = _markdown()


def sanitize(html: str) -> str:
    return nh3.clean(
        html,
        tags=TAGS,
        attributes={"a": {"href"}, "ol": {"start"}},
        allowed_classes={"span": {"mention"}},
        url_schemes=set(scheme.rstrip(":") for scheme in SCHEMES),
        link_rel=REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )


def mentioned_names(text: str) -> list[str]:
    return [match[3] for match in TOKENS.finditer(text) if match["mention"]][:MAX_MENTIONS]


def members_among(room: Room, names: Iterable[str]) -> set[str]:
    """Which of these names (any case) are the room's members, lowercased: a private room's
    members, or anyone who may read a public room (every active user)."""
    names = list(dict.fromkeys(name.lower() for name in names))
    if not names:
        return set()
    query = Q()
    for name in names:
        query |= Q(username__iexact=name)
    return {str(username).lower() for username in _people(room).filter(query).values_list("username", flat=True)}


def _people(room: Room) -> Any:
    return room.members.all() if room.is_private else get_user_model().objects.filter(is_active=True)


def members_starting(room: Room, prefix: str, limit: int = 8) -> list[str]:
    """The names of the room's members (as ``members_among``) starting with ``prefix``, any case, sorted."""
    names = _people(room).filter(username__istartswith=prefix).values_list("username", flat=True)
    return sorted(map(str, names[:200]), key=lambda name: (name.lower(), name))[:limit]


def to_html(text: str, members: Iterable[str] = ()) -> str:
    """The text rendered and sanitized; ``@name`` highlighted where ``name`` (any case) is in ``members``."""
    env = {"members": {name.lower() for name in members}}
    return sanitize(MARKDOWN.render(text, env)).strip()


def message_html(text: str, room: Room) -> str:
    """A message of this room as HTML, its mentions looked up among the room's members."""
    return to_html(text, members_among(room, mentioned_names(text)))
