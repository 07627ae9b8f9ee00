"""What an upload is, by its content; thumbnails without metadata; stored files and their removal."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from hubbub.contrib.chat import attachments, posting
from hubbub.contrib.chat.models import Attachment, Message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def image_bytes(format: str = "JPEG", size=(1200, 900), mode="RGB", exif: bool = False) -> bytes:
    image = Image.new(mode, size, (200, 30, 30) if mode == "RGB" else (200, 30, 30, 128))
    out = io.BytesIO()
    options = {}
    if exif:
        data = Image.Exif()
        data[0x010F] = "SpyCam"  # Make
        data[0x0112] = 6  # Orientation: rotated, to be turned upright
        options["exif"] = data.tobytes()
    image.save(out, format=format, **options)
    return out.getvalue()


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/x-anything")


def test_an_image_gets_an_upright_bounded_thumbnail_without_its_exif():
    prepared = attachments.prepare(upload("photo.jpg", image_bytes(exif=True)))
    assert prepared.content_type == "image/jpeg" and prepared.thumbnail_extension == "jpg"
    thumbnail = Image.open(io.BytesIO(prepared.thumbnail))
    # 1200×900 turned upright (orientation 6) is 900×1200, then fitted in 480×360.
    assert thumbnail.size == (prepared.width, prepared.height) == (270, 360)
    assert dict(thumbnail.getexif()) == {} and "exif" not in thumbnail.info


def test_a_transparent_image_keeps_its_transparency_in_a_png_thumbnail():
    prepared = attachments.prepare(upload("logo.webp", image_bytes("WEBP", (100, 50), "RGBA")))
    assert prepared.content_type == "image/webp" and prepared.thumbnail_extension == "png"
    assert Image.open(io.BytesIO(prepared.thumbnail)).mode == "RGBA"
    assert (prepared.width, prepared.height) == (100, 50)  # small images are not enlarged


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("fake.png", b"<html><script>alert(1)</script></html>", "application/octet-stream"),
        ("notes.txt", b"plain words", "application/octet-stream"),
        ("report.pdf.png", b"%PDF-1.7\n...", "application/pdf"),
        ("archive", b"PK\x03\x04rest", "application/zip"),
        ("truncated.png", image_bytes("PNG")[:60], "application/octet-stream"),
        ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "application/octet-stream"),
    ],
)
def test_other_content_is_a_file_whatever_its_name(name, content, content_type):
    prepared = attachments.prepare(upload(name, content))
    assert (prepared.content_type, prepared.thumbnail, prepared.name) == (content_type, b"", name)


def test_too_large_empty_and_too_many_pixels_are_refused(settings, monkeypatch):
    settings.CHAT_MAX_UPLOAD_BYTES = 10
    with pytest.raises(attachments.Refused, match="The file is 11 bytes; the limit is 10 bytes") as refused:
        attachments.prepare(upload("big.bin", b"x" * 11))
    assert refused.value.status == 413
    with pytest.raises(attachments.Refused, match="empty") as refused:
        attachments.prepare(upload("empty.bin", b""))
    assert refused.value.status == 400
    settings.CHAT_MAX_UPLOAD_BYTES = 10_000_000
    monkeypatch.setattr(attachments, "MAX_PIXELS", 1000)
    with pytest.raises(attachments.Refused, match="1200×900 pixels") as refused:
        attachments.prepare(upload("huge.jpg", image_bytes()))
    assert refused.value.status == 413


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
        ("a\nb\x00c\u202e.txt", "abc.txt"),
        ("...", "file"),
        ("", "file"),
        ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),
    ],
)
def test_names_lose_folders_and_control_characters(sent, kept):
    assert attachments.clean_name(sent) == kept


def test_a_posted_file_is_stored_under_a_random_name_and_deleted_with_its_message(
    alice, general, media, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = posting.post(general, alice, "", upload("../photo.jpg", image_bytes()))
    attachment = Attachment.objects.get(message=message)
    assert attachment.name == "photo.jpg" and attachment.is_image
    stored = sorted(path.name for path in (media / "hubbub_chat").iterdir())
    assert len(stored) == 2 and "photo" not in "".join(stored)
    assert (media / attachment.path).read_bytes()[:2] == b"\xff\xd8"
    with django_capture_on_commit_callbacks(execute=True):
        Message.objects.filter(pk=message.pk).delete()
    assert list((media / "hubbub_chat").iterdir()) == []


def test_a_post_that_fails_after_storing_leaves_no_file(alice, general, media, monkeypatch):
    def broken(message):
        raise RuntimeError("the hub is down")

    monkeypatch.setattr(posting.events, "message_posted", broken)
    with pytest.raises(RuntimeError):
        posting.post(general, alice, "hi", upload("a.bin", b"data"))
    assert not Message.objects.exists() and list((media / "hubbub_chat").iterdir()) == []
