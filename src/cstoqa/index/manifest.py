"""What an index generation says about itself: how it was built, from which files, and its own files' checksums."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

FORMAT_VERSION = 7


class DocumentEntry(BaseModel):
    hash: str
    title: str
    chunks: int


class SkippedEntry(BaseModel):
    """A file that could not be read, kept so that an unchanged unreadable file does not trigger a reindex."""

    hash: str
    reason: str


class FileEntry(BaseModel):
    bytes: int
    sha256: str


class Counts(BaseModel):
    documents: int = 0
    chunks: int = 0
    sentences: int = 0


class Manifest(BaseModel):
    format_version: int = FORMAT_VERSION
    cstoqa_version: str
    model: str
    fingerprint: str
    settings: dict[str, Any]
    built_at: str
    dense_index: str = ""
    dimension: int
    counts: Counts
    documents: dict[str, DocumentEntry]
    skipped: dict[str, SkippedEntry] = {}
    files: dict[str, FileEntry] = {}

    def source_hashes(self) -> dict[str, str]:
        """Content hash of every source file the build saw, read or skipped."""
        return {d: e.hash for d, e in self.documents.items()} | {d: e.hash for d, e in self.skipped.items()}
