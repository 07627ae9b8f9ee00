"""The chat's template library (``{% load hubbub_chat %}``). Avatars: a person's initial on a colour
derived from the name (the same as chat.js computes): ``data-hubbub-hue="{{ name|avatar_hue }}"``
(chat.css gives each of its values a colour), ``{{ name|avatar_initial }}``. A message's text
as sanitized HTML (``formatting``): ``{{ message|message_html }}``."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe

from ..formatting import message_html as render_message

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


@register.filter
def message_html(message: Any) -> SafeString:
    """The message's text rendered and sanitized, as the live events carry it (``events.message_data``)."""
    if message is None:
        return mark_safe("")
    return mark_safe(render_message(message.text, message.room))  # sanitized by nh3 (formatting.sanitize)
