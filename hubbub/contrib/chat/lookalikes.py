"""Names that look alike: the Unicode TR39 confusable skeleton of a name, and names that mix scripts.

"Аda" with a Cyrillic А reads as "Ada": both have the skeleton "ada". A name is refused when
it mixes scripts (beyond those that are written together: Han with Hiragana and Katakana, with
Bopomofo, or with Hangul, each also with Latin; digits and punctuation belong to every script)
or when its skeleton is another user's (``hubbub.contrib.chat.names``).

The data is Unicode's, as the ``confusable-homoglyphs`` package ships it: its ``confusables.txt``
(each character that looks like another mapped to a prototype) and ``Scripts.txt``. The
package keeps each pair of look-alikes both ways; the prototypes are told apart as TR39 defines
them: a prototype is never itself mapped, so each group of look-alikes is one prototype with the
characters mapped to it. Where a group is a pair of single characters, either may be the
prototype: both go to the smaller, which compares the same.
"""

from __future__ import annotations

import unicodedata
from functools import cache, lru_cache

from confusable_homoglyphs import categories, confusables  # type: ignore[import-untyped]

# Scripts every other is written with: digits, punctuation, combining marks.
_SHARED_SCRIPTS = frozenset({"COMMON", "INHERITED"})
# Sets of scripts written together (TR39's "highly restrictive" level).
_WRITTEN_TOGETHER = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
# Marks the data keeps around right-to-left characters (for display): not part of them.
_DIRECTION_MARKS = str.maketrans("", "", "\u200e\u200f")


@cache
def _prototypes() -> dict[str, str]:
    """Each character that has a look-alike prototype: the prototype (one or more characters)."""
    data: dict[str, list[dict[str, str]]] = confusables.confusables_data
    mapping: dict[str, str] = {}
    for key, entries in data.items():
        char = key.translate(_DIRECTION_MARKS)
        if len(char) != 1 or len(entries) != 1:
            continue  # a sequence, or a character several others look like: a prototype
        other_key = entries[0]["c"]
        other = other_key.translate(_DIRECTION_MARKS)
        if len(other) > 1 or len(data.get(other_key, ())) > 1:
            mapping[char] = other  # mapped to a sequence, or to a prototype of several
        elif other != char:
            mapping[char] = min(char, other)  # a pair: either is the prototype
    # A prototype sequence whose characters are themselves mapped (where the data's parsing lost
    # a detail) is mapped on, so that a skeleton's skeleton is itself.
    for char, prototype in mapping.items():
        for _ in range(4):
            resolved = "".join(mapping.get(part, part) if part != char else part for part in prototype)
            if resolved == prototype:
                break
            prototype = resolved
        mapping[char] = prototype
    return mapping


@lru_cache(maxsize=4096)
def skeleton(name: str) -> str:
    """What ``name`` looks like: equal for names that look alike, ignoring case.

    TR39's skeleton (NFD, each character to its prototype, NFD) of the name's case-folded
    skeleton, so that "AdaI" (capital i) and "adal" compare the same, as "Аda" and "ada" do."""
    return _tr39_skeleton(_tr39_skeleton(name).casefold())


def _tr39_skeleton(text: str) -> str:
    prototypes = _prototypes()
    mapped = "".join(prototypes.get(char, char) for char in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)


def scripts(text: str) -> set[str]:
    """The scripts the text's letters are written in (Unicode's names: LATIN, CYRILLIC...)."""
    return {categories.alias(char) for char in text} - _SHARED_SCRIPTS


def mixed_scripts(text: str) -> list[str]:
    """The scripts ``text`` mixes, sorted, where they are not written together; else empty."""
    found = scripts(text)
    if len(found) <= 1 or any(found <= together for together in _WRITTEN_TOGETHER):
        return []
    return sorted(found)


def mixing_rule(text: str) -> str | None:
    """Why ``text`` is refused for mixing scripts, in words, or None."""
    mixed = mixed_scripts(text)
    if not mixed:
        return None
    words = [script.replace("_", " ").title() for script in mixed]
    listed = ", ".join(words[:-1]) + f" and {words[-1]}"
    return f"“{text}” mixes scripts ({listed}), so it could pass for another name: write it in one."
