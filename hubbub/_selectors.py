"""Topic selectors: an exact topic, ``*`` (every topic), an RFC 6570 URI template (draft-07's
``topic=``) or a WHATWG URL Pattern (Mercure 1.0's ``match_urlpattern=``).

Templates and patterns come from subscribers and tokens, and are matched against every
update's topics, so both are compiled to linear-time matchers: templates with RE2, patterns
with ``urlpattern`` (the Rust crate's ``regex`` engine). With a backtracking engine a
template such as ``{.a}z`` takes exponential time on a topic full of dots.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable
from typing import Protocol

import re2
import urlpattern


class Pattern(Protocol):
    def fullmatch(self, text: str) -> object | None: ...


WILDCARD = "*"

_UNRESERVED = r"A-Za-z0-9\-._~%"
_RESERVED = r":/?#\[\]@!$&'()*+,;="
# What each template operator's expansion may consist of, as a regular expression.
_OPERATOR_PATTERNS = {
    "": rf"[{_UNRESERVED},]*",
    "+": rf"[{_UNRESERVED}{_RESERVED}]*",
    "#": rf"(?:#[{_UNRESERVED}{_RESERVED}]*)?",
    ".": rf"(?:\.[{_UNRESERVED},]*)*",
    "/": rf"(?:/[{_UNRESERVED},]*)*",
    ";": rf"(?:;[{_UNRESERVED},=]*)*",
    "?": rf"(?:\?[{_UNRESERVED},=&]*)?",
    "&": rf"(?:&[{_UNRESERVED},=&]*)*",
}
_EXPRESSION = re.compile(r"\{([^{}]*)\}")
_VARIABLE = re.compile(r"^[A-Za-z0-9_%.]+(?::[1-9][0-9]{0,3}|\*)?$")


class _Template:
    """A compiled template, shared by every selector set that holds the same template and
    freed with the last of them (RE2 programs are about 14 KB each once matching has run)."""

    __slots__ = ("fullmatch", "__weakref__")

    def __init__(self, regexp: Pattern) -> None:
        self.fullmatch = regexp.fullmatch


_templates: weakref.WeakValueDictionary[str, _Template] = weakref.WeakValueDictionary()


def template_pattern(selector: str) -> Pattern | None:
    """The regular expression a URI template selector matches, or None if it is no template."""
    if "{" not in selector:
        return None
    template = _templates.get(selector)
    if template is None:
        regexp = _compile(selector)
        if regexp is None:
            return None
        template = _templates[selector] = _Template(regexp)
    return template


def _compile(selector: str) -> Pattern | None:
    parts: list[str] = []
    position = 0
    for expression in _EXPRESSION.finditer(selector):
        literal = selector[position : expression.start()]
        if "{" in literal or "}" in literal:
            return None
        parts.append(re.escape(literal))
        body = expression.group(1)
        operator = body[:1] if body[:1] in _OPERATOR_PATTERNS and body[:1] != "" else ""
        names = body[len(operator) :].split(",")
        if not all(_VARIABLE.match(name) for name in names):
            return None
        parts.append(_OPERATOR_PATTERNS[operator])
        position = expression.end()
    tail = selector[position:]
    if "{" in tail or "}" in tail:
        return None
    parts.append(re.escape(tail))
    pattern: Pattern = re2.compile("".join(parts))
    return pattern


class _UrlPattern:
    """A compiled URL Pattern; relative patterns and topics are resolved against ``base``, the
    hub's URL. A topic that is no URL (reference) matches no pattern."""

    __slots__ = ("_test", "_base", "__weakref__")

    def __init__(self, pattern: str, base: str) -> None:
        self._test = urlpattern.URLPattern(pattern, base).test
        self._base = base

    def fullmatch(self, topic: str) -> bool | None:
        try:
            return self._test(topic, self._base) or None
        except ValueError:
            return None


_url_patterns: weakref.WeakValueDictionary[tuple[str, str], _UrlPattern] = weakref.WeakValueDictionary()


class InvalidPattern(ValueError):
    """A ``match_urlpattern`` value that is no well-formed URL Pattern."""


def url_pattern(pattern: str, base: str) -> Pattern:
    """The compiled URL Pattern, shared by every selector set that holds it; raises
    ``InvalidPattern`` (with the parser's reason) for a malformed one."""
    compiled = _url_patterns.get((pattern, base))
    if compiled is None:
        try:
            compiled = _url_patterns[pattern, base] = _UrlPattern(pattern, base)
        except ValueError as error:
            raise InvalidPattern(f"{pattern!r} is not a URL Pattern: {error}") from None
    return compiled


def matches(selector: str, topic: str) -> bool:
    if selector == WILDCARD or selector == topic:
        return True
    pattern = template_pattern(selector)
    return pattern is not None and pattern.fullmatch(topic) is not None


class SelectorSet:
    """A set of selectors, split so that matching a topic costs a set lookup when it can.

    ``selectors`` are draft-07 selectors (``*``, a URI template if it has braces, else an exact
    topic); ``exact`` and ``url_patterns`` are Mercure 1.0 matchers of those types (``*`` is
    the wildcard in both), the patterns resolved against ``base``, the hub's URL. Raises
    ``InvalidPattern`` for a malformed URL Pattern.
    """

    __slots__ = ("selectors", "exact_matchers", "url_patterns", "exact", "patterns", "pattern_keys", "wildcard")

    def __init__(
        self,
        selectors: Iterable[str] = (),
        *,
        exact: Iterable[str] = (),
        url_patterns: Iterable[str] = (),
        base: str = "",
    ) -> None:
        self._set(selectors, exact, ((pattern, base) for pattern in url_patterns))

    def _set(self, selectors: Iterable[str], exact: Iterable[str], url_patterns: Iterable[tuple[str, str]]) -> None:
        """Hold these selectors and matchers (each URL Pattern with its base), and compile them."""
        self.selectors: tuple[str, ...] = tuple(dict.fromkeys(selectors))
        self.exact_matchers: tuple[str, ...] = tuple(dict.fromkeys(exact))
        self.url_patterns: tuple[tuple[str, str], ...] = tuple(dict.fromkeys(url_patterns))
        self.wildcard = (
            WILDCARD in self.selectors
            or WILDCARD in self.exact_matchers
            or any(pattern == WILDCARD for pattern, _ in self.url_patterns)
        )
        # The fan-out indexes subscribers by these keys: a template is its own key; a URL
        # Pattern's key cannot be mistaken for a template (it starts with a NUL).
        keys: list[str] = []
        patterns: list[Pattern] = []
        for selector in self.selectors:
            if selector != WILDCARD and (template := template_pattern(selector)) is not None:
                keys.append(selector)
                patterns.append(template)
        for pattern, base in self.url_patterns:
            if pattern != WILDCARD:
                keys.append(f"\0urlpattern\0{base}\0{pattern}")
                patterns.append(url_pattern(pattern, base))
        self.pattern_keys: tuple[str, ...] = tuple(keys)
        self.patterns: tuple[Pattern, ...] = tuple(patterns)
        templates = set(keys)
        self.exact: frozenset[str] = frozenset(
            [s for s in self.selectors if s != WILDCARD and s not in templates]
            + [s for s in self.exact_matchers if s != WILDCARD]
        )

    def __bool__(self) -> bool:
        return bool(self.selectors or self.exact_matchers or self.url_patterns)

    def __or__(self, other: SelectorSet) -> SelectorSet:
        union = SelectorSet.__new__(SelectorSet)  # compiled once, each pattern with its own base
        union._set(
            self.selectors + other.selectors,
            self.exact_matchers + other.exact_matchers,
            self.url_patterns + other.url_patterns,
        )
        return union

    def __repr__(self) -> str:
        parts = [repr(list(self.selectors))]
        if self.exact_matchers:
            parts.append(f"exact={list(self.exact_matchers)!r}")
        if self.url_patterns:
            parts.append(f"url_patterns={[p for p, _ in self.url_patterns]!r}")
        return f"SelectorSet({', '.join(parts)})"

    @property
    def matchers(self) -> list[str]:
        """Every selector and matcher as written, as the authorization hooks are given them."""
        return [*self.selectors, *self.exact_matchers, *(p for p, _ in self.url_patterns)]

    @property
    def needs_every_topic(self) -> bool:
        """True when matching needs more than the exact topics (``*``, a template or a pattern)."""
        return self.wildcard or bool(self.patterns)

    def match(self, topic: str) -> bool:
        if self.wildcard or topic in self.exact:
            return True
        return any(p.fullmatch(topic) for p in self.patterns)

    def match_any(self, topics: Iterable[str]) -> bool:
        return any(self.match(topic) for topic in topics)

    def match_all(self, topics: Iterable[str]) -> bool:
        return all(self.match(topic) for topic in topics)


# No selector at all: what a subscriber without a token or grants is granted. Shared: a
# SelectorSet is never changed once made.
NOTHING = SelectorSet()
