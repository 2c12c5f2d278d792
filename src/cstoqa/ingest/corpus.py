"""Walk a corpus folder and turn each readable file into a Document; skip the rest with a reason."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cstoqa.errors import CorpusError
from cstoqa.ingest.boilerplate import BoilerplateFilter
from cstoqa.ingest.formats import SUFFIXES, read_file
from cstoqa.ingest.structure import find_sections
from cstoqa.settings import Settings
from cstoqa.types import Document, SkippedFile


@dataclass(frozen=True)
class SourceFile:
    doc_id: str
    path: Path
    content_hash: str
    data: bytes


def iter_sources(corpus_dir: Path, settings: Settings, skipped: list[SkippedFile]) -> Iterator[SourceFile]:
    """Yield readable files in a stable order; directory symlinks are not followed, so loops can't trap us."""
    if not corpus_dir.is_dir():
        raise CorpusError(
            f"corpus folder {corpus_dir} does not exist; create it and put .txt/.md/.html/.pdf files in it"
        )
    for root, dirs, files in os.walk(corpus_dir, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(root) / name
            doc_id = path.relative_to(corpus_dir).as_posix()
            if path.suffix.lower() not in SUFFIXES:
                skipped.append(SkippedFile(path=doc_id, reason=f"unsupported file type {path.suffix or '(none)'}"))
                continue
            try:
                data = read_bounded(path, settings.max_file_bytes)
            except FileNotFoundError:
                gone = "broken symlink" if path.is_symlink() else "deleted while indexing"
                skipped.append(SkippedFile(path=doc_id, reason=f"unreadable ({gone})"))
                continue
            except OSError as exc:
                skipped.append(SkippedFile(path=doc_id, reason=f"unreadable ({exc.strerror or exc})"))
                continue
            except CorpusError as exc:
                skipped.append(SkippedFile(path=doc_id, reason=str(exc)))
                continue
            yield SourceFile(doc_id=doc_id, path=path, content_hash=hashlib.sha256(data).hexdigest(), data=data)


def _size(n: int) -> str:
    return f"{n} bytes" if n < 2**20 else f"{n / 2**20:.1f} MB"


def read_bounded(path: Path, limit: int) -> bytes:
    """The file's bytes, never more than ``limit`` of them in memory; CorpusError says why a file is refused.

    The file is opened without blocking and checked to be a regular file, so a named pipe or a device that
    found its way into the corpus cannot hang or flood a reindex; a file that grows past the limit while it
    is read is refused like one that was too large to begin with.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise CorpusError("not a regular file")
        data = b""
        if info.st_size <= limit:
            data = fh.read(info.st_size + 1)  # sized to the file; a byte more means it is still growing
            if len(data) > info.st_size:
                data += fh.read(limit + 1 - len(data))
    if info.st_size > limit or len(data) > limit:
        size = max(info.st_size, len(data))
        raise CorpusError(
            f"too large ({_size(size)}; the limit is {_size(limit)}, Settings.max_file_bytes): "
            "split it into smaller files"
        )
    return data


def load_document(source: SourceFile, settings: Settings) -> Document:
    """Raise CorpusError with the reason when the file holds no usable text."""
    if not source.data.strip():
        raise CorpusError("empty file")
    extracted = read_file(source.path, source.data)
    sections, title = find_sections(
        extracted.text,
        default_title=source.path.stem,
        boilerplate=BoilerplateFilter(settings.boilerplate),
        headings=extracted.headings,
        max_heading_words=settings.max_heading_words,
    )
    if not sections:
        raise CorpusError("no text content")
    return Document(
        doc_id=source.doc_id, title=title, text=extracted.text, content_hash=source.content_hash, sections=sections
    )
