"""The folder store, the default: a folder of named files per generation, swapped in atomically.

``index/current`` is a symlink to the live generation folder. A reindex writes a complete new
generation beside it and then replaces the symlink with ``os.replace``, which is atomic on POSIX:
a reader sees the old index or the new one, never a half-written one, and a reindex killed at any
point leaves ``current`` pointing at the old, intact generation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout
from pydantic import ValidationError

from cstoqa.chunking import embedding_text
from cstoqa.errors import IndexBusyError, IndexCorruptError, IndexMissingError, IndexOutdatedError
from cstoqa.index import dense, lexical
from cstoqa.index.manifest import FORMAT_VERSION, FileEntry, Manifest
from cstoqa.index.search import FaissSearcher, Searcher
from cstoqa.types import Chunk, Document, Sentence

CURRENT = "current"
MANIFEST = "manifest.json"
FILES = (
    "documents.jsonl",
    "chunks.jsonl",
    "sentences.jsonl",
    "chunk_vectors.npy",
    "sentence_vectors.npy",
    "dense.faiss",
    "sentences.faiss",
)


@dataclass
class IndexTables:
    """What a build produces and a store keeps; rows of the vector arrays align with ``chunks``/``sentences``."""

    manifest: Manifest
    documents: dict[str, Document]
    chunks: list[Chunk]
    sentences: list[Sentence]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray


@dataclass
class IndexData(IndexTables):
    """Everything a query needs: the tables and the searches over them."""

    searcher: Searcher
    generation: str = ""
    path: Path | None = None
    loaded_at: float = field(default_factory=time.time)
    sentence_chunk: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """The first chunk holding each sentence, so a sentence hit can vote for a passage."""
        first: dict[int, int] = {}
        for row, chunk in enumerate(self.chunks):
            for sid in chunk.sentence_ids:
                first.setdefault(sid, row)
        self.sentence_chunk = [first.get(sid, -1) for sid in range(len(self.sentences))]


def _write_jsonl(path: Path, rows: list[Any]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(row.model_dump_json())
            fh.write("\n")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for path in [*folder.rglob("*"), folder]:
        _fsync(path)


def save(tables: IndexTables, index_dir: Path, approximate_above: int) -> IndexData:
    """Build the searches, write a new generation and make it current."""
    searcher = FaissSearcher.build(
        tables.chunk_vectors, tables.sentence_vectors, [embedding_text(c) for c in tables.chunks], approximate_above
    )
    tables.manifest.dense_index = dense.kind(searcher.chunk_index)
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    tmp = index_dir / f".{name}.tmp"
    tmp.mkdir()
    _write_jsonl(tmp / "documents.jsonl", list(tables.documents.values()))
    _write_jsonl(tmp / "chunks.jsonl", tables.chunks)
    _write_jsonl(tmp / "sentences.jsonl", tables.sentences)
    np.save(tmp / "chunk_vectors.npy", tables.chunk_vectors)
    np.save(tmp / "sentence_vectors.npy", tables.sentence_vectors)
    dense.save(searcher.chunk_index, tmp / "dense.faiss")
    dense.save(searcher.sentence_index, tmp / "sentences.faiss")
    if searcher.bm25 is not None:
        lexical.save(searcher.bm25, tmp / "bm25")
    files = sorted(p for p in tmp.rglob("*") if p.is_file())
    tables.manifest.files = {
        p.relative_to(tmp).as_posix(): FileEntry(bytes=p.stat().st_size, sha256=_sha256(p)) for p in files
    }
    (tmp / MANIFEST).write_text(tables.manifest.model_dump_json(indent=2), encoding="utf-8")
    _fsync_tree(tmp)
    final = index_dir / name
    tmp.rename(final)
    previous = os.readlink(index_dir / CURRENT) if (index_dir / CURRENT).is_symlink() else ""
    link = index_dir / f".{CURRENT}.{uuid.uuid4().hex[:8]}"
    link.symlink_to(name)
    os.replace(link, index_dir / CURRENT)
    _fsync(index_dir)
    prune(index_dir, keep={name, previous})
    return IndexData(**vars(tables), searcher=searcher, generation=name, path=final)


def remove_leftovers(index_dir: Path) -> None:
    """Delete what a killed reindex left behind; call only while holding the index lock."""
    if index_dir.is_dir():
        prune(index_dir, keep={p.name for p in index_dir.glob("gen-*")})


def prune(index_dir: Path, keep: set[str]) -> None:
    """Remove leftovers of killed reindexes and generations older than the one before current.

    The previous generation stays so that a reader that resolved ``current`` just before the swap
    can still finish loading it.
    """
    for path in index_dir.iterdir():
        leftover = path.name.startswith(".gen-") or path.name.startswith(f".{CURRENT}.")
        stale = path.name.startswith("gen-") and path.name not in keep
        if leftover or stale:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def current_path(index_dir: Path) -> Path:
    link = index_dir / CURRENT
    if not link.is_symlink() and not link.exists():
        raise IndexMissingError(f"no index in {index_dir}; build one with `cstoqa index`")
    target = link.resolve()
    if not target.is_dir():
        raise IndexCorruptError(index_dir, f"{CURRENT} points at a missing folder {target.name}")
    return target


def read_manifest(index_dir: Path, folder: Path | None = None) -> Manifest:
    """The manifest of ``folder`` (the current generation by default); IndexOutdatedError when another format
    version wrote it."""
    folder = folder or current_path(index_dir)
    try:
        raw = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexCorruptError(index_dir, f"{MANIFEST} is missing") from exc
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(index_dir, f"{MANIFEST} is unreadable: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("files"), dict) or not raw["files"]:
        raise IndexCorruptError(index_dir, f"{MANIFEST} has no file list")
    if raw.get("format_version") != FORMAT_VERSION:
        found = raw.get("format_version")
        raise IndexOutdatedError(f"the index in {index_dir} has format {found}, this cstoqa reads {FORMAT_VERSION}")
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        raise IndexCorruptError(index_dir, f"{MANIFEST} is malformed: {exc.error_count()} bad fields") from exc


def _verify(folder: Path, manifest: Manifest, index_dir: Path) -> None:
    for name, expected in manifest.files.items():
        path = folder / name
        if not path.is_file():
            raise IndexCorruptError(index_dir, f"{name} is missing")
        try:
            if path.stat().st_size != expected.bytes:
                raise IndexCorruptError(index_dir, f"{name} has the wrong size")
            if _sha256(path) != expected.sha256:
                raise IndexCorruptError(index_dir, f"{name} does not match its checksum")
        except OSError as exc:
            raise IndexCorruptError(index_dir, f"{name} is unreadable: {exc.strerror or exc}") from exc


def verify(index_dir: Path, manifest: Manifest) -> None:
    """Check every file against the manifest (present, right size, right checksum) without loading any of them.

    An unchanged reindex runs this, so that `cstoqa index` repairs a damaged index rather than reporting it
    as up to date; hashing the files costs far less than loading them.
    """
    _verify(current_path(index_dir), manifest, index_dir)


def load(index_dir: Path) -> IndexData:
    """Load and verify the current generation; damage raises IndexCorruptError naming the fix."""
    folder = current_path(index_dir)  # once: a switch meanwhile must not pair one generation's manifest with another
    manifest = read_manifest(index_dir, folder)
    _verify(folder, manifest, index_dir)
    try:
        documents = {d.doc_id: d for d in _read_jsonl(folder / "documents.jsonl", Document)}
        chunks = _read_jsonl(folder / "chunks.jsonl", Chunk)
        sentences = _read_jsonl(folder / "sentences.jsonl", Sentence)
        chunk_vectors = np.load(folder / "chunk_vectors.npy", allow_pickle=False)
        sentence_vectors = np.load(folder / "sentence_vectors.npy", allow_pickle=False)
        chunk_index = dense.load(folder / "dense.faiss")
        sentence_index = dense.load(folder / "sentences.faiss")
        bm25 = lexical.load(folder / "bm25") if (folder / "bm25").is_dir() else None
    except Exception as exc:  # any parse failure of a checksummed file means damage we cannot repair
        raise IndexCorruptError(index_dir, f"{type(exc).__name__}: {exc}") from exc
    if (
        len(chunk_vectors) != len(chunks)
        or len(sentence_vectors) != len(sentences)
        or chunk_index.ntotal != len(chunks)
        or sentence_index.ntotal != len(sentences)
    ):
        raise IndexCorruptError(index_dir, "row counts of chunks and vectors disagree")
    return IndexData(
        manifest=manifest,
        documents=documents,
        chunks=chunks,
        sentences=sentences,
        chunk_vectors=chunk_vectors,
        sentence_vectors=sentence_vectors,
        searcher=FaissSearcher(chunk_index, sentence_index, bm25, len(chunks)),
        generation=folder.name,
        path=folder,
    )


def _read_jsonl(path: Path, model: Any) -> list[Any]:
    with path.open(encoding="utf-8") as fh:
        return [model.model_validate_json(line) for line in fh if line.strip()]


@contextmanager
def reindex_lock(path: Path, where: str) -> Iterator[None]:
    """A lock file held for a reindex; a second reindex is told so at once rather than waiting."""
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout as exc:
        raise IndexBusyError(f"another reindex of {where} is running; wait for it to finish") from exc
    try:
        yield
    finally:
        lock.release()


@dataclass(frozen=True)
class FolderStore:
    """The ``IndexStore`` of one folder on this machine."""

    folder: Path

    @property
    def local_path(self) -> Path:
        return self.folder

    def describe(self) -> str:
        return str(self.folder)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One reindex at a time; a second one is told so at once rather than waiting."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with reindex_lock(self.folder / ".lock", str(self.folder)):
            yield

    def current(self) -> str | None:
        link = self.folder / CURRENT
        return os.readlink(link) if link.is_symlink() else None

    def read_manifest(self) -> Manifest:
        return read_manifest(self.folder)

    def verify(self, manifest: Manifest) -> None:
        verify(self.folder, manifest)

    def remove_leftovers(self) -> None:
        remove_leftovers(self.folder)

    def load(self) -> IndexData:
        return load(self.folder)

    def save(self, tables: IndexTables, approximate_above: int) -> IndexData:
        return save(tables, self.folder, approximate_above)
