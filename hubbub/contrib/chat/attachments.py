"""Files sent with messages: what they are (by their content, never their name), where they are
kept, and their thumbnails.

An upload that Pillow opens and verifies as a PNG, JPEG, GIF or WebP image is an image: it gets
a thumbnail (at most ``THUMBNAIL_SIZE``, turned upright, without EXIF or any other metadata)
shown in the message. Anything else is a file: its type comes from its first bytes (a few known
kinds, else ``application/octet-stream``), and it is only ever downloaded (``Content-Disposition:
attachment``, ``X-Content-Type-Options: nosniff``), so a page or script renamed ``.png`` is never
run by the browser. Both are stored under random names in ``CHAT_ATTACHMENT_STORAGE`` and served
by the chat's views to those who may read the room.
"""

from __future__ import annotations

import io
import logging
import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageOps, UnidentifiedImageError

from . import conf

logger = logging.getLogger(__name__)

THUMBNAIL_SIZE = (480, 360)
# Images with more pixels than this are refused (413): decoding them for a thumbnail would
# take too much memory.
MAX_PIXELS = 50_000_000
IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
# Other files: the first bytes of a few common kinds; the rest is application/octet-stream.
MAGIC = [
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
]
GENERIC = "application/octet-stream"
FOLDER = "hubbub_chat"


class Refused(Exception):
    """An upload that is not kept; ``status`` (400 or 413) and ``reason`` say why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Prepared:
    """An upload checked, with what the ``Attachment`` row will hold (its paths once stored)."""

    upload: UploadedFile
    name: str
    content_type: str
    size: int
    thumbnail: bytes = b""
    thumbnail_extension: str = ""
    width: int = 0
    height: int = 0
    paths: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.paths[0],
            "thumbnail_path": self.paths[1] if len(self.paths) > 1 else "",
            "content_type": self.content_type,
            "size": self.size,
            "width": self.width,
            "height": self.height,
        }


def storage() -> Storage:
    return storages[conf.get("CHAT_ATTACHMENT_STORAGE")]


def check_size(upload: UploadedFile) -> None:
    """Refused (413) for an upload over ``CHAT_MAX_UPLOAD_BYTES``, or (400) an empty one."""
    limit = conf.get("CHAT_MAX_UPLOAD_BYTES")
    size = upload.size or 0
    if size > limit:
        raise Refused(413, f"The file is {size} bytes; the limit is {limit} bytes. Send a smaller one.")
    if size == 0:
        raise Refused(400, "The file is empty: nothing was sent.")


def clean_name(name: str | None) -> str:
    """The file's name as sent, without folders or control characters, at most 255 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(char for char in base if unicodedata.category(char)[0] != "C").strip().lstrip(".")
    if not base:
        return "file"
    if len(base) > 255:
        stem, dot, extension = base.rpartition(".")
        base = f"{stem[: 254 - len(extension)]}.{extension}" if dot and len(extension) < 20 else base[:255]
    return base


def prepare(upload: UploadedFile) -> Prepared:
    """What the upload is, by its content: an image with its thumbnail, or a file; Refused (413)
    for an image of too many pixels."""
    check_size(upload)
    prepared = Prepared(upload=upload, name=clean_name(upload.name), content_type=GENERIC, size=upload.size or 0)
    image_type = _image_type(upload)
    if image_type:
        prepared.content_type = image_type
        _thumbnail(upload, prepared)
    else:
        upload.seek(0)
        head = upload.read(8)
        prepared.content_type = next((kind for magic, kind in MAGIC if head.startswith(magic)), GENERIC)
    upload.seek(0)
    return prepared


def _image_type(upload: UploadedFile) -> str | None:
    upload.seek(0)
    try:
        with Image.open(upload) as image:
            kind = IMAGE_TYPES.get(image.format or "")
            width, height = image.size
            if kind and width * height > MAX_PIXELS:
                raise Refused(
                    413, f"The image is {width}×{height} pixels; the limit is {MAX_PIXELS // 1_000_000} megapixels."
                )
            image.verify()
    except Refused:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError, EOFError):
        return None
    return kind


def _thumbnail(upload: UploadedFile, prepared: Prepared) -> None:
    upload.seek(0)
    try:
        with Image.open(upload) as original:
            original.seek(0)  # an animation's first frame
            image = ImageOps.exif_transpose(original)
            alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
            image = image.convert("RGBA" if alpha else "RGB")
            image.thumbnail(THUMBNAIL_SIZE)
            image.info.clear()  # nothing of the original's metadata (EXIF, ICC, comments) goes along
            out = io.BytesIO()
            if alpha:
                image.save(out, format="PNG", optimize=True)
                prepared.thumbnail_extension = "png"
            else:
                image.save(out, format="JPEG", quality=85)
                prepared.thumbnail_extension = "jpg"
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        # It verified, but cannot be drawn (a truncated frame): kept as a file.
        logger.info("chat: no thumbnail for %r: %s", prepared.name, error)
        prepared.content_type = GENERIC
        return
    prepared.thumbnail = out.getvalue()
    prepared.width, prepared.height = image.size


def store(prepared: Prepared) -> None:
    """Save the upload (and its thumbnail) under a random name; their paths go in ``prepared.paths``."""
    where = storage()
    key = f"{FOLDER}/{uuid.uuid4().hex}"
    prepared.upload.seek(0)
    prepared.paths.append(where.save(key, prepared.upload))
    if prepared.thumbnail:
        name = f"{key}-thumbnail.{prepared.thumbnail_extension}"
        prepared.paths.append(where.save(name, ContentFile(prepared.thumbnail)))


def discard(paths: list[str]) -> None:
    """Delete stored files (a post that failed after storing them, a deleted message's)."""
    where = storage()
    for path in paths:
        if not path:
            continue
        try:
            where.delete(path)
        except OSError as error:
            logger.warning("chat: attachment %s was not deleted: %s", path, error)
