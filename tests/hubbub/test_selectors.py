import pytest

from hubbub._selectors import SelectorSet, matches, template_pattern


@pytest.mark.parametrize(
    "selector, topic, expected",
    [
        ("raw", "raw", True),
        ("raw", "Raw", False),
        ("*", "anything at all", True),
        ("https://example.net/foo/abc", "https://example.net/foo/abc", True),
        ("https://example.net/foo/{random}", "https://example.net/foo/0123abcdef", True),
        ("https://example.net/foo/{random}", "https://example.net/foo/a/b", False),
        ("another-name", "will-not-match}", False),
        ("https://example.net/foo/another-name", "https://example.net/foo/will-not-match}", False),
        ("https://example.net/bar/{var}", "https://example.net/foo/will-not-match}", False),
        ("https://example.com/books/{id}.{format}", "https://example.com/books/1.jsonld", True),
        ("https://example.com/{+path}", "https://example.com/a/b/c", True),
        ("https://example.com/books{/id*}", "https://example.com/books/1/2", True),
        ("https://example.com/search{?q,page}", "https://example.com/search?q=x&page=2", True),
        ("https://example.com/{a", "https://example.com/{a", True),
        ("https://example.com/{a", "https://example.com/x", False),
    ],
)
def test_matches(selector, topic, expected):
    assert matches(selector, topic) is expected


def test_malformed_templates_are_exact_selectors():
    assert template_pattern("https://example.com/{a") is None
    assert template_pattern("https://example.com/{a b}") is None
    assert template_pattern("https://example.com/}") is None


def test_selector_set():
    selectors = SelectorSet(["a", "https://example.com/{id}", "a"])
    assert selectors.selectors == ("a", "https://example.com/{id}")
    assert selectors.exact == {"a"}
    assert selectors.needs_every_topic
    assert selectors.match("https://example.com/1")
    assert selectors.match_any(["x", "a"])
    assert not selectors.match_all(["x", "a"])
    assert not SelectorSet(["a"]).needs_every_topic
    assert SelectorSet(["*"]).match("whatever")
    assert not SelectorSet()
    assert (SelectorSet(["a"]) | SelectorSet(["b"])).exact == {"a", "b"}


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "selector, topic",
    [
        ("https://x/{.a}z", "https://x/" + "." * 2000 + "!"),
        ("https://x/{&a}z", "https://x/" + "&" * 2000 + "!"),
        ("https://x/{a}{b}{c}{d}{e}{f}{g}{h}z", "https://x/" + "a" * 2000 + "!"),
    ],
)
def test_pathological_templates_cannot_stall_the_hub(selector, topic):
    """A backtracking engine needs exponential time for these; RE2 answers at once."""
    for _ in range(100):
        assert not matches(selector, topic)
