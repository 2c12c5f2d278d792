"""The indexing stage: scan → read → chunk → embed → write, embedding only new or changed documents.

It sits above ``index/`` (how an index is stored and searched) and below the assistant that calls it.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cstoqa import __version__
from cstoqa.chunking import chunk_document, embedding_text, sentence_embedding_text
from cstoqa.embedding import Embedder
from cstoqa.errors import CorpusError, IndexCorruptError, IndexMissingError, IndexOutdatedError
from cstoqa.index.manifest import Counts, DocumentEntry, Manifest, SkippedEntry
from cstoqa.index.store import IndexData, IndexTables
from cstoqa.index.stores import IndexStore, open_store
from cstoqa.ingest import SourceFile, iter_sources, load_document
from cstoqa.settings import Settings
from cstoqa.types import Chunk, Document, IndexReport, Sentence, SkippedFile


def compatible(manifest: Manifest, settings: Settings) -> str | None:
    """Why an index built with another model or settings can't be reused, or None when it can."""
    if manifest.model != settings.model_name:
        return f"model {manifest.model!r} != {settings.model_name!r}"
    if manifest.fingerprint != settings.build_fingerprint():
        return "index settings changed"
    return None


@contextmanager
def stage(report: IndexReport, name: str) -> Iterator[None]:
    """Add the seconds spent in ``name`` to the report, so benchmarks read stage times instead of patching code."""
    started = time.perf_counter()
    try:
        yield
    finally:
        report.stages[name] = round(report.stages.get(name, 0.0) + time.perf_counter() - started, 4)


def scan(corpus_dir: Path, settings: Settings) -> tuple[list[SourceFile], list[SkippedFile]]:
    skipped: list[SkippedFile] = []
    return list(iter_sources(corpus_dir, settings, skipped)), skipped


def is_current(manifest: Manifest, sources: list[SourceFile]) -> bool:
    """Same files with the same content as at the last build (files that were skipped then count too)."""
    return manifest.source_hashes() == {s.doc_id: s.content_hash for s in sources}


def reindex(
    corpus_dir: Path,
    index: str | os.PathLike[str] | IndexStore,
    settings: Settings,
    embedder: Embedder,
    rebuild: bool = False,
) -> tuple[IndexReport, IndexData | None]:
    """Bring the index (a folder, or any store) in line with the corpus. Returns the new data, or None when
    nothing changed."""
    started = time.perf_counter()
    store = open_store(index)
    with store.lock():
        report, data = _reindex_locked(corpus_dir, store, settings, embedder, rebuild)
    report.seconds = round(time.perf_counter() - started, 3)
    report.model_loaded = bool(getattr(embedder, "loaded", report.chunks_embedded > 0))
    return report, data


def _previous(store: IndexStore, settings: Settings, rebuild: bool) -> tuple[IndexData | None, bool]:
    """The reusable old index, and whether a full rebuild is forced."""
    if rebuild:
        return None, True
    try:
        manifest = store.read_manifest()
        if compatible(manifest, settings) is not None:
            return None, True
        return store.load(), False
    except IndexMissingError:
        return None, False
    except (IndexCorruptError, IndexOutdatedError):
        return None, True


def _reindex_locked(
    corpus_dir: Path, store: IndexStore, settings: Settings, embedder: Embedder, rebuild: bool
) -> tuple[IndexReport, IndexData | None]:
    store.remove_leftovers()
    report = IndexReport()
    with stage(report, "scan"):
        sources, skipped = scan(corpus_dir, settings)
    previously: set[str] = set()
    try:
        manifest = store.read_manifest()
        previously = set(manifest.documents)
        if not rebuild and compatible(manifest, settings) is None and is_current(manifest, sources):
            store.verify(manifest)
            return _unchanged_report(manifest, skipped, report.stages), None
    except (IndexMissingError, IndexCorruptError, IndexOutdatedError):
        pass
    with stage(report, "load previous"):
        old, forced = _previous(store, settings, rebuild)
    old_docs = old.documents if old else {}
    report.skipped, report.rebuilt = skipped, forced

    kept: dict[str, Document] = {}
    fresh: list[tuple[Document, list[Chunk], list[Sentence]]] = []
    for source in tqdm(sources, desc="reading", unit="file", disable=None, leave=False):
        previous = old_docs.get(source.doc_id)
        if previous is not None and previous.content_hash == source.content_hash:
            kept[source.doc_id] = previous
            report.unchanged.append(source.doc_id)
            continue
        try:
            with stage(report, "read"):
                doc = load_document(source, settings)
        except CorpusError as exc:
            report.skipped.append(SkippedFile(path=source.doc_id, reason=str(exc)))
            continue
        with stage(report, "chunk"):
            chunks, sentences = chunk_document(doc, settings.chunk_words, settings.overlap_sentences)
        fresh.append((doc, chunks, sentences))
        (report.changed if previous is not None else report.added).append(source.doc_id)
    seen = {s.doc_id for s in sources}
    report.removed = sorted(d for d in previously if d not in seen or (d not in kept and d not in report.changed))
    failed = {s.path for s in report.skipped}
    report.skipped_hashes = {s.doc_id: s.content_hash for s in sources if s.doc_id in failed}

    tables = _assemble(old, kept, fresh, embedder, settings, report)
    with stage(report, "save"):
        data = store.save(tables, settings.approximate_above)
    return report, data


def _unchanged_report(manifest: Manifest, skipped: list[SkippedFile], stages: dict[str, float]) -> IndexReport:
    skipped = skipped + [SkippedFile(path=p, reason=e.reason) for p, e in manifest.skipped.items()]
    return IndexReport(
        unchanged=sorted(manifest.documents),
        skipped=skipped,
        total_documents=manifest.counts.documents,
        total_chunks=manifest.counts.chunks,
        stages=stages,
    )


def _encode(embedder: Embedder, texts: list[str], label: str) -> np.ndarray:
    batch = 256
    parts = [
        embedder.encode(texts[i : i + batch])
        for i in tqdm(range(0, len(texts), batch), desc=label, unit="batch", disable=None, leave=False)
    ]
    return np.vstack(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def _assemble(
    old: IndexData | None,
    kept: dict[str, Document],
    fresh: list[tuple[Document, list[Chunk], list[Sentence]]],
    embedder: Embedder,
    settings: Settings,
    report: IndexReport,
) -> IndexTables:
    """Concatenate reused and new rows; sentence ids are re-based to positions in the new tables."""
    chunks: list[Chunk] = []
    sentences: list[Sentence] = []
    chunk_rows: list[np.ndarray] = []
    sentence_rows: list[np.ndarray] = []
    documents: dict[str, Document] = {}

    if old is not None and kept:
        keep_chunk = [i for i, c in enumerate(old.chunks) if c.doc_id in kept]
        keep_sentence = [i for i, s in enumerate(old.sentences) if s.doc_id in kept]
        remap = {old_i: new_i for new_i, old_i in enumerate(keep_sentence)}
        chunks = [
            old.chunks[i].model_copy(update={"sentence_ids": [remap[s] for s in old.chunks[i].sentence_ids]})
            for i in keep_chunk
        ]
        sentences = [old.sentences[i] for i in keep_sentence]
        chunk_rows.append(old.chunk_vectors[keep_chunk])
        sentence_rows.append(old.sentence_vectors[keep_sentence])
        documents.update(kept)

    new_chunks: list[Chunk] = []
    new_sentences: list[Sentence] = []
    for doc, doc_chunks, doc_sentences in fresh:
        base = len(sentences) + len(new_sentences)
        new_chunks += [c.model_copy(update={"sentence_ids": [base + s for s in c.sentence_ids]}) for c in doc_chunks]
        new_sentences += doc_sentences
        documents[doc.doc_id] = doc
    if new_chunks:
        with stage(report, "embed"):
            chunk_rows.append(_encode(embedder, [embedding_text(c) for c in new_chunks], "embedding chunks"))
            sentence_rows.append(
                _encode(embedder, [sentence_embedding_text(s) for s in new_sentences], "embedding sentences")
            )
    chunks += new_chunks
    sentences += new_sentences
    report.chunks_embedded = len(new_chunks)
    report.sentences_embedded = len(new_sentences)

    if not documents:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in report.skipped[:5]) or "it is empty"
        raise CorpusError(f"the corpus holds no readable document ({reasons})")
    per_doc = Counter(c.doc_id for c in chunks)
    chunk_vectors = _stack(chunk_rows)
    sentence_vectors = _stack(sentence_rows)
    report.total_documents = len(documents)
    report.total_chunks = len(chunks)
    manifest = Manifest(
        cstoqa_version=__version__,
        model=settings.model_name,
        fingerprint=settings.build_fingerprint(),
        settings=settings.model_dump(),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        dimension=int(chunk_vectors.shape[1]) if chunk_vectors.ndim == 2 else 0,
        counts=Counts(documents=len(documents), chunks=len(chunks), sentences=len(sentences)),
        documents={
            d.doc_id: DocumentEntry(hash=d.content_hash, title=d.title, chunks=per_doc[d.doc_id])
            for d in documents.values()
        },
        skipped={
            s.path: SkippedEntry(hash=report.skipped_hashes[s.path], reason=s.reason)
            for s in report.skipped
            if s.path in report.skipped_hashes
        },
    )
    return IndexTables(manifest, documents, chunks, sentences, chunk_vectors, sentence_vectors)


def _stack(rows: list[np.ndarray]) -> np.ndarray:
    rows = [r for r in rows if r.size]
    return np.vstack(rows).astype(np.float32) if rows else np.zeros((0, 0), dtype=np.float32)
