"""The chat's template library (``{% load hubbub_chat %}``). Avatars: a person's initial on a colour
derived from the name (the same as chat.js computes): ``data-hubbub-hue="{{ name|avatar_hue }}"``
(chat.css gives each of its values a colour), ``{{ name|avatar_initial }}``."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def avatar_hue(name: str) -> int:
    """A hue 0-350, in steps of 10, from the name's UTF-16 code units, as ``hue()`` in chat.js computes it."""
    value = 0
    data = str(name).encode("utf-16-le")
    for index in range(0, len(data), 2):
        value = (value * 31 + int.from_bytes(data[index : index + 2], "little")) % 360
    return value - value % 10


@register.filter
def avatar_initial(name: str) -> str:
    return str(name)[:1].upper()
