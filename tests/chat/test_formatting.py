"""A message's text as HTML: each construct of the subset, mentions of members only, and no
executable markup from hostile input (checked with an HTML parser, not by string search)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from hubbub.contrib.chat import formatting
from hubbub.contrib.chat.formatting import to_html

from .conftest import make_guest

ALLOWED = {
    "p": set(),
    "br": set(),
    "strong": set(),
    "em": set(),
    "code": set(),
    "pre": set(),
    "blockquote": set(),
    "ul": set(),
    "ol": {"start"},
    "li": set(),
    "a": {"href", "rel", "target"},
    "span": {"class"},
}


class Elements(HTMLParser):
    """Every element and its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.text += data


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser


def assert_harmless(html: str) -> None:
    """Only the subset's elements and attributes; links to http, https or mailto, opened safely."""
    for tag, attrs in parse(html).elements:
        assert tag in ALLOWED, (tag, html)
        assert set(attrs) <= ALLOWED[tag], (tag, attrs)
        assert not any(name.startswith("on") for name in attrs)
        if tag == "a":
            assert attrs.get("href", "https://").lower().startswith(("http://", "https://", "mailto:")), attrs
            assert attrs["rel"] == "nofollow noopener noreferrer" and attrs["target"] == "_blank"
        if tag == "span":
            assert attrs == {"class": "mention"}


HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<p onclick="alert(1)">x</p>',
    "<svg/onload=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](  javascript:alert(1) )",
    "[x](java&#115;cript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](/relative) [y](//evil.example)",
    "<javascript:alert(1)>",
    "![x](https://evil.example/x.png)",
    '[x](https://ok.example "title" onmouseover=alert(1))',
    '[x](https://ok.example"onmouseover="alert(1))',
    'https://ok.example/"onmouseover="alert(1)',
    "&lt;script&gt;alert(1)&lt;/script&gt; &#60;img src=x onerror=alert(1)&#62;",
    "**<b onmouseover=alert(1)>x</b>**",
    "`<script>` and ```\n<script>alert(1)</script>\n```",
    "> <img src=x onerror=alert(1)>\n> - <script>",
    "**unterminated *nested _mixed `code [link](https://x",
    "[[[[[[[[x](javascript:alert(1))]]]]]]]",
    "<<script>script>alert(1)<</script>/script>",
    "<!-- <script>alert(1)</script> -->",
    "@<script>alert(1)</script> @ada<img src=x onerror=alert(1)>",
    "> " * 200 + "deep",
    "- " * 200 + "deep",
    "*" * 5000 + "x" + "_" * 5000,
    "[" * 3000 + "x" + "](javascript:alert(1))" * 3000,
    "<img src=x onerror=alert(1)> " * 2000,
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_yields_no_executable_markup(text):
    html = to_html(text, members=["ada"])
    assert_harmless(html)


@pytest.mark.parametrize("text", ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"])
def test_raw_html_is_shown_as_text(text):
    parsed = parse(to_html(text))
    assert parsed.elements == [("p", {})] and parsed.text == text


def test_a_javascript_link_stays_text():
    parsed = parse(to_html("[x](javascript:alert(1))"))
    assert parsed.elements == [("p", {})] and parsed.text == "[x](javascript:alert(1))"


def test_the_sanitizer_removes_what_the_renderer_would_let_through():
    # The second layer on its own: even markup the renderer never makes is cleaned.
    html = formatting.sanitize(
        '<a href="javascript:alert(1)" onclick="x">a</a><img src=x onerror=alert(1)>'
        '<span class="mention evil" style="x">b</span><script>c</script><div>d</div>'
    )
    assert_harmless(html)
    assert parse(html).elements == [
        ("a", {"rel": "nofollow noopener noreferrer", "target": "_blank"}),
        ("span", {"class": "mention"}),
    ]


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("**bold** __bold__", "<p><strong>bold</strong> <strong>bold</strong></p>"),
        ("*italic* _italic_", "<p><em>italic</em> <em>italic</em></p>"),
        ("`a < b`", "<p><code>a &lt; b</code></p>"),
        ("```\nif a < b:\n    **no**\n```", "<pre><code>if a &lt; b:\n    **no**\n</code></pre>"),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>"),
        ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
        ("3. three\n4. four", '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>'),
        ("one\ntwo", "<p>one<br>\ntwo</p>"),
        (
            "[the docs](https://example.org/a_b)",
            '<p><a href="https://example.org/a_b" target="_blank" rel="nofollow noopener noreferrer">the docs</a></p>',
        ),
        (
            "see https://example.org/x?a=1&b=2.",
            '<p>see <a href="https://example.org/x?a=1&amp;b=2" target="_blank" rel="nofollow noopener noreferrer">'
            "https://example.org/x?a=1&amp;b=2</a>.</p>",
        ),
        (
            "<https://example.org>",
            '<p><a href="https://example.org" target="_blank" rel="nofollow noopener noreferrer">'
            "https://example.org</a></p>",
        ),
        (
            "[write](mailto:ada@example.org)",
            '<p><a href="mailto:ada@example.org" target="_blank" rel="nofollow noopener noreferrer">write</a></p>',
        ),
        ("# not a heading", "<p># not a heading</p>"),
        ("", ""),
    ],
)
def test_each_construct_of_the_subset_renders(text, html):
    assert to_html(text) == html
    assert_harmless(html)


def test_mentions_of_members_are_highlighted_and_others_left_plain():
    html = to_html("@Ada and @bob, mail ada@example.org, `@ada` and [@ada](https://x.example)", members=["ada"])
    assert html == (
        '<p><span class="mention">@Ada</span> and @bob, mail ada@example.org, <code>@ada</code> and '
        '<a href="https://x.example" target="_blank" rel="nofollow noopener noreferrer">@ada</a></p>'
    )


def test_mentions_are_looked_up_among_the_room_members(db):
    from hubbub.contrib.chat.models import Room

    make_guest("bob")
    ada = make_guest("ada")
    inactive = make_guest("gone")
    inactive.is_active = False
    inactive.save()
    public = Room.objects.get(slug="general")
    private = Room.objects.create(slug="p", name="P", is_private=True)
    private.members.add(ada)
    text = "@ADA @bob @gone @nobody."
    assert formatting.members_among(public, formatting.mentioned_names(text)) == {"ada", "bob"}
    assert formatting.members_among(private, formatting.mentioned_names(text)) == {"ada"}
    assert parse(formatting.message_html(text, private)).elements == [("p", {}), ("span", {"class": "mention"})]
