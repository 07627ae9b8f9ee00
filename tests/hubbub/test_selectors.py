import gc
import uuid
import weakref

import pytest

from hubbub import _selectors as selectors_module
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


# Compiled templates: shared between subscribers, freed with the last of them


def _templates(count: int) -> list[str]:
    run = uuid.uuid4().hex  # templates of this test's own
    return [f"https://example.com/{run}/{n}/{{id}}" for n in range(count)]


def test_selector_sets_holding_a_template_share_one_compiled_pattern():
    [template] = _templates(1)
    one, two = SelectorSet([template]), SelectorSet(["a", template])
    assert one.pattern_keys == two.pattern_keys == (template,)
    assert one.patterns[0] is two.patterns[0] is template_pattern(template)
    assert one.match(template.replace("{id}", "7")) and two.match(template.replace("{id}", "8"))


def test_compiled_templates_are_freed_with_the_last_selector_set_that_holds_them():
    """1,000 anonymous subscribers with 64 templates each kept about 0.76 MB apiece in an
    unbounded cache after they left (RE2 programs grow as they match)."""
    templates = _templates(64)
    sets = [SelectorSet(templates) for _ in range(10)]
    topics = [template.replace("{id}", "x") for template in templates[:3]]
    assert all(selectors.match_any(topics) for selectors in sets)
    compiled = [weakref.ref(pattern) for pattern in sets[0].patterns]
    assert all(ref() is not None for ref in compiled)
    assert {id(p) for s in sets for p in s.patterns} == {id(ref()) for ref in compiled}  # 64, not 640
    del sets[1:]
    gc.collect()
    assert all(ref() is not None for ref in compiled), "still held by the last selector set"
    del sets
    gc.collect()
    assert [ref() for ref in compiled] == [None] * 64
    assert not set(templates) & set(selectors_module._templates)


def test_a_freed_template_is_compiled_again_when_needed():
    [template] = _templates(1)
    first = weakref.ref(SelectorSet([template]).patterns[0])
    gc.collect()
    assert first() is None
    again = SelectorSet([template])
    assert again.match(template.replace("{id}", "1")) and not again.match(template.replace("{id}", "1/2"))
