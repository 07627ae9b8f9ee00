"""An update: what a publisher sends to topics, validated once and encoded once."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import _conf as conf
from .exceptions import InvalidUpdate, UpdateTooLarge

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Resuming "after earliest" means "from the start of the history": no update may take that id.
RESERVED_IDS = frozenset({"earliest"})
# What the history's columns hold (hubbub.models.StoredUpdate).
MAX_ID_LENGTH = 512
MAX_TYPE_LENGTH = 255
MAX_RETRY = 2**31 - 1


def new_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def check_event_id(value: str) -> str:
    """Validate an update id or a Last-Event-ID: the protocol's rules plus the length limit."""
    if not value:
        raise InvalidUpdate("id must not be empty")
    if value.startswith("#"):
        raise InvalidUpdate("id must not start with '#'")
    if "\n" in value or "\r" in value or "\x00" in value:
        raise InvalidUpdate("id must not contain CR, LF or NUL")
    if len(value) > conf.get("HUBBUB_MAX_ID_LENGTH"):
        raise UpdateTooLarge(f"id is longer than {conf.get('HUBBUB_MAX_ID_LENGTH')} characters")
    return value


def _check_update_id(value: str) -> str:
    if value in RESERVED_IDS:
        raise InvalidUpdate(f"id {value!r} is reserved (it means the start of the history)")
    return check_event_id(value)


@dataclass(frozen=True, slots=True)
class Update:
    topics: tuple[str, ...]
    data: str = ""
    private: bool = False
    type: str | None = None
    id: str = field(default_factory=new_id)
    retry: int | None = None

    @classmethod
    def create(
        cls,
        topics: str | Iterable[str],
        data: str = "",
        *,
        private: bool = False,
        type: str | None = None,
        id: str | None = None,
        retry: int | str | None = None,
    ) -> Update:
        """Build an update from caller input, raising InvalidUpdate/UpdateTooLarge on bad fields."""
        topic_list = (topics,) if isinstance(topics, str) else tuple(topics)
        if not topic_list:
            raise InvalidUpdate("at least one topic is required")
        if len(topic_list) > conf.get("HUBBUB_MAX_TOPICS"):
            raise UpdateTooLarge(f"more than {conf.get('HUBBUB_MAX_TOPICS')} topics")
        max_topic = conf.get("HUBBUB_MAX_TOPIC_LENGTH")
        for topic in topic_list:
            if not isinstance(topic, str) or not topic:
                raise InvalidUpdate("topics must be non-empty strings")
            if len(topic) > max_topic:
                raise UpdateTooLarge(f"a topic is longer than {max_topic} characters")
            if "\x00" in topic:
                raise InvalidUpdate("topics must not contain NUL characters")
        if not isinstance(data, str):
            raise InvalidUpdate("data must be a string")
        if len(data) > conf.get("HUBBUB_MAX_DATA_BYTES") or len(data.encode()) > conf.get("HUBBUB_MAX_DATA_BYTES"):
            raise UpdateTooLarge(f"data is larger than {conf.get('HUBBUB_MAX_DATA_BYTES')} bytes")
        if "\x00" in data:
            raise InvalidUpdate("data must not contain NUL characters")
        if type is not None:
            if "\n" in type or "\r" in type or "\x00" in type:
                raise InvalidUpdate("type must not contain CR, LF or NUL")
            if len(type) > MAX_TYPE_LENGTH:
                raise UpdateTooLarge(f"type is longer than {MAX_TYPE_LENGTH} characters")
            type = type or None
        retry_ms: int | None = None
        if retry is not None and retry != "":
            text = str(retry)
            if not (text.isascii() and text.isdigit()):
                raise InvalidUpdate("retry must consist of ASCII digits only")
            retry_ms = int(text)
            if retry_ms > MAX_RETRY:
                raise InvalidUpdate(f"retry must be at most {MAX_RETRY} milliseconds")
        return cls(
            topics=topic_list,
            data=data,
            private=bool(private),
            type=type,
            id=new_id() if id is None or id == "" else _check_update_id(id),
            retry=retry_ms,
        )

    def encode(self) -> bytes:
        """The update as one server-sent event, ready to write to every subscriber."""
        parts = [f"id: {self.id}\n"]
        if self.type:
            parts.append(f"event: {self.type}\n")
        if self.retry is not None:
            parts.append(f"retry: {self.retry}\n")
        for line in _LINE_BREAK.split(self.data):
            parts.append(f"data: {line}\n")
        parts.append("\n")
        return "".join(parts).encode()

    def encode_json(self) -> bytes:
        """The update's fields as the tail of a WebSocket ``event`` message: a JSON object
        without its opening brace, which each socket's subscription prefixes with its own
        fields (``hubbub._websocket``)."""
        fields: dict[str, object] = {"id": self.id}
        if self.type:
            fields["event"] = self.type
        fields["topics"] = self.topics
        fields["data"] = self.data
        if self.retry is not None:
            fields["retry"] = self.retry
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()[1:]

    def as_message(self) -> list[object]:
        """A compact form for the channel layer (msgpack-friendly)."""
        return [self.id, list(self.topics), self.data, self.private, self.type, self.retry]

    @classmethod
    def from_message(cls, message: list[Any]) -> Update:
        id_, topics, data, private, type_, retry = message
        return cls(topics=tuple(topics), data=data, private=private, type=type_, id=id_, retry=retry)
