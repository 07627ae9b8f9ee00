"""MkDocs hook: the site's changelog page is the repository's CHANGELOG.md itself, not a copy."""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

CHANGELOG = Path(__file__).resolve().parents[2] / "CHANGELOG.md"


def on_files(files: Files, config: object, **kwargs: object) -> Files:
    files.append(File.generated(config, "changelog.md", content=CHANGELOG.read_text()))  # type: ignore[arg-type]
    return files
