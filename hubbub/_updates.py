"""An update: what a publisher sends to topics, validated once and encoded once."""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import urlpattern

from . import _conf as conf
from .exceptions import InvalidUpdate, UpdateTooLarge

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Resuming "after earliest" means "from the start of the history": no update may take that id.
RESERVED_IDS = frozenset({"earliest"})
# What the history's columns hold (hubbub.models.StoredUpdate).
MAX_ID_LENGTH = 512
MAX_TYPE_LENGTH = 255
MAX_RETRY = 2**31 - 1
# Where the hub answers (below the application's mount point). Topics under it are reserved
# for what the hub itself generates (Mercure 1.0's subscription events).
MERCURE_PATH = "/.well-known/mercure"
# The SSE event type of those hub-generated events.
RESERVED_TYPES = frozenset({"mercure"})
WILDCARD = "*"

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_UNRESERVED_ESCAPE = re.compile("%(2[dDeE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA]|5[fF]|7[eE])")


def check_text(value: str, what: str) -> str:
    """Refuse control characters (C0, DEL, C1) and invisible format characters (Unicode
    category Cf: bidirectional and zero-width controls), which would let one identifier pass
    for another, or inject fields into the event stream."""
    if _CONTROL.search(value) or (
        not value.isascii() and any(unicodedata.category(c) == "Cf" for c in value if ord(c) > 0x7F)
    ):
        raise InvalidUpdate(f"{what} must not contain control or invisible formatting characters")
    return value


_RESERVED_NAMESPACES: dict[str, urlpattern.URLPattern] = {}


def addresses_hub(topic: str, hub_path: str = MERCURE_PATH) -> bool:
    """Whether ``topic``, resolved against the hub's URL as a URL reference (dot segments
    removed, escaped unreserved characters decoded), names the hub's path or a path below
    it, whatever its scheme and host: those topics are the hub's own."""
    namespace = _RESERVED_NAMESPACES.get(hub_path)
    if namespace is None:
        namespace = _RESERVED_NAMESPACES[hub_path] = urlpattern.URLPattern({"pathname": hub_path + "{/*}?"})
    decoded = _UNRESERVED_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), topic)
    try:
        return bool(namespace.test(decoded, "https://hub.invalid" + hub_path))
    except ValueError:
        return False


def new_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def check_event_id(value: str) -> str:
    """Validate an update id or a Last-Event-ID: the protocol's rules plus the length limit."""
    if not value:
        raise InvalidUpdate("id must not be empty")
    if value.startswith("#"):
        raise InvalidUpdate("id must not start with '#'")
    if len(value) > conf.get("HUBBUB_MAX_ID_LENGTH"):
        raise UpdateTooLarge(f"id is longer than {conf.get('HUBBUB_MAX_ID_LENGTH')} characters")
    return check_text(value, "id")


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
        hub_path: str = MERCURE_PATH,
    ) -> Update:
        """Build an update from caller input, raising InvalidUpdate/UpdateTooLarge on bad fields.

        ``hub_path`` is the hub's path, under which topics are the hub's own.
        """
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
            check_text(topic, "a topic")
            if topic == WILDCARD:
                raise InvalidUpdate("topic '*' is reserved: it is the wildcard that matches every topic")
            if addresses_hub(topic, hub_path):
                raise InvalidUpdate(f"topic {topic!r} is under the hub's own path {hub_path}, reserved for the hub")
        if not isinstance(data, str):
            raise InvalidUpdate("data must be a string")
        if len(data) > conf.get("HUBBUB_MAX_DATA_BYTES") or len(data.encode()) > conf.get("HUBBUB_MAX_DATA_BYTES"):
            raise UpdateTooLarge(f"data is larger than {conf.get('HUBBUB_MAX_DATA_BYTES')} bytes")
        if "\x00" in data:
            raise InvalidUpdate("data must not contain NUL characters")
        if type is not None:
            check_text(type, "type")
            if type in RESERVED_TYPES:
                raise InvalidUpdate(f"type {type!r} is reserved for the events the hub generates")
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
