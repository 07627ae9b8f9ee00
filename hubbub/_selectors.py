"""Topic selectors: an exact topic, ``*`` (every topic) or an RFC 6570 URI template.

Templates come from subscribers and tokens, and are matched against every update's topics,
so they are compiled with RE2, which matches in linear time: with a backtracking engine a
template such as ``{.a}z`` takes exponential time on a topic full of dots.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable
from typing import Protocol

import re2


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


def matches(selector: str, topic: str) -> bool:
    if selector == WILDCARD or selector == topic:
        return True
    pattern = template_pattern(selector)
    return pattern is not None and pattern.fullmatch(topic) is not None


class SelectorSet:
    """A set of selectors, split so that matching a topic costs a set lookup when it can."""

    __slots__ = ("selectors", "exact", "patterns", "templates", "wildcard")

    def __init__(self, selectors: Iterable[str] = ()) -> None:
        self.selectors: tuple[str, ...] = tuple(dict.fromkeys(selectors))
        self.wildcard = WILDCARD in self.selectors
        compiled = [(s, p) for s in self.selectors if s != WILDCARD and (p := template_pattern(s)) is not None]
        self.templates: tuple[str, ...] = tuple(s for s, _ in compiled)
        self.patterns: tuple[Pattern, ...] = tuple(p for _, p in compiled)
        self.exact: frozenset[str] = frozenset(s for s in self.selectors if s != WILDCARD and s not in self.templates)

    def __bool__(self) -> bool:
        return bool(self.selectors)

    def __or__(self, other: SelectorSet) -> SelectorSet:
        return SelectorSet(self.selectors + other.selectors)

    def __repr__(self) -> str:
        return f"SelectorSet({list(self.selectors)!r})"

    @property
    def needs_every_topic(self) -> bool:
        """True when matching needs more than the exact topics (``*`` or a template)."""
        return self.wildcard or bool(self.patterns)

    def match(self, topic: str) -> bool:
        if self.wildcard or topic in self.exact:
            return True
        return any(p.fullmatch(topic) for p in self.patterns)

    def match_any(self, topics: Iterable[str]) -> bool:
        return any(self.match(topic) for topic in topics)

    def match_all(self, topics: Iterable[str]) -> bool:
        return all(self.match(topic) for topic in topics)
