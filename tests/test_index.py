"""Stage 3: the index folder — round trip, incremental reindex, damage detection, crash safety, locking."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cstoqa import indexing
from cstoqa.assistant import Assistant
from cstoqa.chunking import embedding_text, sentence_embedding_text
from cstoqa.errors import CorpusError, IndexBusyError, IndexCorruptError, IndexMissingError
from cstoqa.index import store
from cstoqa.index.manifest import FORMAT_VERSION, Counts
from cstoqa.index.store import IndexData
from cstoqa.settings import Settings
from support import FakeEmbedder

DOCS = ["guide.txt", "notes.md", "page.html"]
TESTS_DIR = Path(__file__).resolve().parent


def generations(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.glob("gen-*"))


def leftovers(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.name.startswith((".gen-", ".current.")))


def doc_counts(data: IndexData, doc_id: str) -> int:
    """Texts a document costs to embed: its chunks plus its sentences."""
    return sum(c.doc_id == doc_id for c in data.chunks) + sum(s.doc_id == doc_id for s in data.sentences)


def assert_consistent(data: IndexData, embedder: FakeEmbedder) -> None:
    """Rows align with chunks/sentences and every chunk's sentence ids point at its own sentences."""
    assert data.chunk_vectors.shape == (len(data.chunks), embedder.dimensions)
    assert data.sentence_vectors.shape == (len(data.sentences), embedder.dimensions)
    assert data.searcher.chunk_index.ntotal == len(data.chunks)
    for chunk, row in zip(data.chunks, data.chunk_vectors, strict=True):
        np.testing.assert_allclose(row, embedder.vector(embedding_text(chunk)), atol=1e-6)
        doc = data.documents[chunk.doc_id]
        assert doc.text[chunk.start : chunk.end] == chunk.text
        for i in chunk.sentence_ids:
            sentence = data.sentences[i]
            assert sentence.doc_id == chunk.doc_id
            assert chunk.start <= sentence.start <= sentence.end <= chunk.end
    for sentence, row in zip(data.sentences, data.sentence_vectors, strict=True):
        np.testing.assert_allclose(row, embedder.vector(sentence_embedding_text(sentence)), atol=1e-6)


@pytest.fixture
def built(small_corpus: Path, index_dir: Path, settings: Settings, fake_embedder: FakeEmbedder) -> IndexData:
    """The small corpus indexed once; the embedder's counters are reset afterwards."""
    _, data = indexing.reindex(small_corpus, index_dir, settings, fake_embedder)
    assert data is not None
    fake_embedder.reset()
    return data


# --- build and load ---------------------------------------------------------------------------------


def test_build_then_load_round_trip(
    small_corpus: Path, index_dir: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    report, data = indexing.reindex(small_corpus, index_dir, settings, fake_embedder)
    assert data is not None
    assert report.added == DOCS
    assert (report.changed, report.removed, report.unchanged, report.skipped) == ([], [], [], [])
    assert report.chunks_embedded == len(data.chunks) == report.total_chunks
    assert report.sentences_embedded == len(data.sentences)
    assert fake_embedder.texts_encoded == len(data.chunks) + len(data.sentences)
    assert report.total_documents == 3 and report.model_loaded and not report.rebuilt and report.wrote_index
    assert set(report.stages) == {"scan", "load previous", "read", "chunk", "embed", "save"}
    assert all(seconds >= 0 for seconds in report.stages.values())

    loaded = store.load(index_dir)
    assert loaded.documents == data.documents
    assert loaded.chunks == data.chunks
    assert loaded.sentences == data.sentences
    np.testing.assert_array_equal(loaded.chunk_vectors, data.chunk_vectors)
    np.testing.assert_array_equal(loaded.sentence_vectors, data.sentence_vectors)
    assert loaded.searcher.bm25 is not None and loaded.searcher.chunks == len(data.chunks)
    assert loaded.path == (index_dir / "current").resolve() == data.path
    assert_consistent(loaded, fake_embedder)

    manifest = loaded.manifest
    assert manifest == data.manifest
    assert manifest.format_version == FORMAT_VERSION
    assert manifest.fingerprint == settings.build_fingerprint()
    assert manifest.counts == Counts(documents=3, chunks=len(data.chunks), sentences=len(data.sentences))
    assert manifest.dimension == fake_embedder.dimensions and manifest.dense_index == "flat"
    assert set(manifest.documents) == set(DOCS)
    assert sum(d.chunks for d in manifest.documents.values()) == len(data.chunks)
    for name in store.FILES:
        entry = manifest.files[name]
        assert len(entry.sha256) == 64 and entry.bytes == (loaded.path / name).stat().st_size
    assert any(name.startswith("bm25/") for name in manifest.files)
    assert generations(index_dir) == [loaded.path.name]
    assert leftovers(index_dir) == []


def test_empty_corpus_is_an_error_that_says_why(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "empty.txt").write_text("")
    with pytest.raises(CorpusError, match=r"no readable document \(empty.txt: empty file\)"):
        indexing.reindex(corpus, tmp_path / "index", settings, fake_embedder)
    with pytest.raises(IndexMissingError, match="build one with `cstoqa index`"):
        store.load(tmp_path / "index")


# --- incremental reindex ----------------------------------------------------------------------------


def test_unchanged_reindex_embeds_nothing_and_writes_nothing(
    built: IndexData, small_corpus: Path, index_dir: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    before = generations(index_dir)
    os.utime(small_corpus / "guide.txt", (time.time() + 100, time.time() + 100))  # touched, same content
    report, data = indexing.reindex(small_corpus, index_dir, settings, fake_embedder)
    assert data is None
    assert fake_embedder.calls == 0
    assert report.unchanged == DOCS and not report.wrote_index
    assert report.total_chunks == len(built.chunks) and report.total_documents == 3
    assert not report.model_loaded
    assert generations(index_dir) == before


def test_query_settings_do_not_force_a_rebuild(
    built: IndexData, small_corpus: Path, index_dir: Path, fake_embedder: FakeEmbedder
) -> None:
    report, data = indexing.reindex(small_corpus, index_dir, Settings(top_k=2, rrf_k=10), fake_embedder)
    assert data is None and not report.rebuilt and fake_embedder.calls == 0


def test_unchanged_reindex_with_a_skipped_file_writes_nothing(
    small_corpus: Path, index_dir: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    (small_corpus / "empty.txt").write_text("")
    indexing.reindex(small_corpus, index_dir, settings, fake_embedder)
    before = generations(index_dir)
    fake_embedder.reset()
    report, data = indexing.reindex(small_corpus, index_dir, settings, fake_embedder)
    assert fake_embedder.calls == 0
    assert [s.path for s in report.skipped] == ["empty.txt"]
    assert set(report.stages) == {"scan"}
    assert data is None
    assert generations(index_dir) == before


def test_modified_file_is_the_only_one_embedded_again(
    built: IndexData, small_corpus: Path, index_dir: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    guide = small_corpus / "guide.txt"
    guide.write_text(guide.read_text() + "\nFunding\n\nEach member pays dues. The council sets them yearly.\n")
    report, data = indexing.reindex(small_corpus, index_dir, settings, fake_embedder)
    assert data is not None
    assert report.changed == ["guide.txt"]
    assert report.unchanged == ["notes.md", "page.html"]
    assert (report.added, report.removed, report.rebuilt) == ([], [], False)
    assert fake_embedder.texts_encoded == doc_counts(data, "guide.txt")
    assert report.chunks_embedded + report.sentences_embedded == doc_counts(data, "guide.txt")
    assert "Funding" in {c.section for c in data.chunks}
    # reused rows are carried over unchanged and re-based correctly
    old_rows = {c.chunk_id: row for c, row in zip(built.chunks, built.chunk_vectors, strict=True)}
    for chunk, row in zip(data.chunks, data.chunk_vectors, strict=True):
        if chunk.doc_id != "guide.txt":
            np.testing.assert_array_equal(row, old_rows[chunk.chunk_id])
    assert_consistent(data, fake_embedder)
    assert_consistent(store.load(index_dir), fake_embedder)


def test_added_and_removed_files_are_reported(
    built: IndexData, small_corpus: Path, index_dir: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    (small_corpus / "page.html").unlink()
    (small_corpus / "sub").mkdir()
    (small_corpus / "sub" / "new.md").write_text("# Drills\n\nAnnual drills train the reaction force.\n")
    report, data = indexing.reindex(small_corpus, index_dir, settings, fake_embedder)
    assert data is not None
    assert (report.added, report.removed, report.changed) == (["sub/new.md"], ["page.html"], [])
    assert report.unchanged == ["guide.txt", "notes.md"]
    assert fake_embedder.texts_encoded == doc_counts(data, "sub/new.md")
    loaded = store.load(index_dir)
    assert set(loaded.documents) == {"guide.txt", "notes.md", "sub/new.md"}
    assert {c.doc_id for c in loaded.chunks} == {"guide.txt", "notes.md", "sub/new.md"}
    assert loaded.manifest.counts.documents == 3
    assert_consistent(loaded, fake_embedder)


def test_file_that_became_unreadable_is_removed_and_skipped(
    built: IndexData, small_corpus: Path, index_dir: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    (small_corpus / "notes.md").write_bytes(b"\x00binary now")
    report, data = indexing.reindex(small_corpus, index_dir, settings, fake_embedder)
    assert data is not None and "notes.md" not in data.documents
    assert report.removed == ["notes.md"]
    assert [(s.path, s.reason) for s in report.skipped] == [("notes.md", "binary file (contains NUL bytes)")]
    assert fake_embedder.calls == 0


def test_changed_build_setting_forces_full_rebuild(
    built: IndexData, small_corpus: Path, index_dir: Path, fake_embedder: FakeEmbedder
) -> None:
    changed = Settings(chunk_words=20)
    assert changed.build_fingerprint() != built.manifest.fingerprint
    report, data = indexing.reindex(small_corpus, index_dir, changed, fake_embedder)
    assert data is not None
    assert report.rebuilt and report.added == DOCS and report.unchanged == []
    assert fake_embedder.texts_encoded == len(data.chunks) + len(data.sentences)
    assert store.load(index_dir).manifest.fingerprint == changed.build_fingerprint()


def test_rebuild_flag_embeds_everything_again(
    built: IndexData, small_corpus: Path, index_dir: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    report, data = indexing.reindex(small_corpus, index_dir, settings, fake_embedder, rebuild=True)
    assert data is not None and report.rebuilt
    assert fake_embedder.texts_encoded == len(built.chunks) + len(built.sentences)
    assert data.chunks == built.chunks


def name_generations(monkeypatch: pytest.MonkeyPatch, stamps: list[str], hexes: list[str]) -> None:
    """Control generation names (``gen-<strftime>-<uuid4 hex>``); store.save also draws a uuid for its temp link."""
    stamp_iter = iter(stamps)
    hex_iter = iter(h for h in hexes for h in (h, "feedf00d"))
    monkeypatch.setattr(store, "time", SimpleNamespace(strftime=lambda fmt: next(stamp_iter)))
    monkeypatch.setattr(store, "uuid", SimpleNamespace(uuid4=lambda: SimpleNamespace(hex=next(hex_iter))))


def reindex_three_times(
    small_corpus: Path, index_dir: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> list[str]:
    """Build, then change the corpus and reindex twice; return the generation names in the order written."""
    names = []
    for i in range(3):
        (small_corpus / f"extra{i}.txt").write_text(f"Extra document number {i} about drills.\n")
        _, data = indexing.reindex(small_corpus, index_dir, settings, fake_embedder)
        assert data is not None and data.path is not None
        assert (index_dir / "current").resolve() == data.path
        names.append(data.path.name)
    return names


def test_only_current_and_previous_generations_are_kept(
    small_corpus: Path,
    index_dir: Path,
    settings: Settings,
    fake_embedder: FakeEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name_generations(
        monkeypatch, ["20260101T000001", "20260101T000002", "20260101T000003"], ["aaaaaaaa", "bbbbbbbb", "cccccccc"]
    )
    _, previous, newest = reindex_three_times(small_corpus, index_dir, settings, fake_embedder)
    assert newest == "gen-20260101T000003-cccccccc"
    assert generations(index_dir) == [previous, newest]


def test_generation_count_stays_at_two(
    small_corpus: Path, index_dir: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    *_, newest = reindex_three_times(small_corpus, index_dir, settings, fake_embedder)
    assert len(generations(index_dir)) == 2 and newest in generations(index_dir)


def test_generation_replaced_in_the_same_second_is_kept(
    small_corpus: Path,
    index_dir: Path,
    settings: Settings,
    fake_embedder: FakeEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name_generations(monkeypatch, ["20260101T000000"] * 3, ["ffffffff", "88888888", "00000000"])
    _, previous, newest = reindex_three_times(small_corpus, index_dir, settings, fake_embedder)
    assert generations(index_dir) == sorted([previous, newest])


# --- damage -----------------------------------------------------------------------------------------


def test_flipped_bytes_in_chunks_are_detected(built: IndexData, index_dir: Path) -> None:
    path = index_dir / "current" / "chunks.jsonl"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x20  # same size, different content
    path.write_bytes(bytes(raw))
    with pytest.raises(IndexCorruptError) as caught:
        store.load(index_dir)
    message = str(caught.value)
    assert "cstoqa index --rebuild" in message
    assert "chunks.jsonl does not match its checksum" in message


def test_damaged_index_is_reported_by_open_and_repaired_by_rebuild(
    built: IndexData,
    small_corpus: Path,
    index_dir: Path,
    settings: Settings,
    fake_embedder: FakeEmbedder,
    open_assistant: Callable[..., Assistant],
) -> None:
    (index_dir / "current" / "chunk_vectors.npy").unlink()
    with pytest.raises(IndexCorruptError, match=r"chunk_vectors\.npy is missing"):
        open_assistant()
    report, _ = indexing.reindex(small_corpus, index_dir, settings, fake_embedder, rebuild=True)
    assert report.rebuilt
    assert store.load(index_dir).chunks == built.chunks


def test_missing_manifest_is_corruption(built: IndexData, index_dir: Path) -> None:
    (index_dir / "current" / "manifest.json").unlink()
    with pytest.raises(IndexCorruptError, match=r"manifest\.json is missing.*cstoqa index --rebuild"):
        store.load(index_dir)


def test_unparsable_manifest_is_corruption(built: IndexData, index_dir: Path) -> None:
    (index_dir / "current" / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorruptError, match=r"manifest\.json is unreadable"):
        store.load(index_dir)


def test_current_link_to_a_missing_generation_is_corruption(built: IndexData, index_dir: Path) -> None:
    (index_dir / "current").unlink()
    (index_dir / "current").symlink_to("gen-that-does-not-exist")
    with pytest.raises(IndexCorruptError, match="points at a missing folder"):
        store.load(index_dir)


def test_missing_index_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="build one with `cstoqa index`"):
        store.load(tmp_path / "nowhere")


@pytest.mark.parametrize(("key", "value"), [("format_version", FORMAT_VERSION + 1), ("model", "another-model")])
def test_incompatible_index_is_rebuilt_by_open(
    built: IndexData,
    index_dir: Path,
    fake_embedder: FakeEmbedder,
    open_assistant: Callable[..., Assistant],
    key: str,
    value: object,
) -> None:
    manifest_path = index_dir / "current" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest[key] = value
    manifest_path.write_text(json.dumps(manifest))
    assistant = open_assistant()
    assert assistant.last_report is not None and assistant.last_report.rebuilt
    assert fake_embedder.texts_encoded == len(built.chunks) + len(built.sentences)
    assert store.read_manifest(index_dir).format_version == FORMAT_VERSION
    assert assistant.search("Where is the secretariat located?")[0].doc_id == "page.html"


# --- Assistant over the index ------------------------------------------------------------------------


def test_open_twice_reuses_the_index(open_assistant: Callable[..., Assistant], fake_embedder: FakeEmbedder) -> None:
    first = open_assistant()
    assert first.last_report is not None and first.last_report.added == DOCS
    fake_embedder.reset()
    second = open_assistant()
    assert second.last_report is None
    assert fake_embedder.calls == 0
    assert second.data.chunks == first.data.chunks


def test_open_refreshes_a_changed_corpus_and_reindex_swaps_data(
    open_assistant: Callable[..., Assistant], small_corpus: Path, fake_embedder: FakeEmbedder
) -> None:
    assistant = open_assistant()
    (small_corpus / "drills.txt").write_text("Drills\n\nThe annual drills took place near Dushanbe.\n")
    assert open_assistant(refresh=False).last_report is None
    report = assistant.reindex()
    assert report.added == ["drills.txt"]
    assert "drills.txt" in assistant.data.documents
    assert assistant.search("Where did the annual drills take place?")[0].doc_id == "drills.txt"


def test_open_works_from_the_index_alone_when_the_corpus_is_gone(
    built: IndexData, small_corpus: Path, open_assistant: Callable[..., Assistant]
) -> None:
    for path in small_corpus.iterdir():
        path.unlink()
    small_corpus.rmdir()
    assistant = open_assistant()
    assert assistant.last_report is None
    assert assistant.data.chunks == built.chunks


def test_open_without_corpus_or_index_is_a_corpus_error(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    with pytest.raises(CorpusError, match="does not exist and there is no usable index"):
        Assistant.open(tmp_path / "nope", tmp_path / "index", settings, fake_embedder)


# --- crash safety and locking -----------------------------------------------------------------------

KILLED_REINDEX = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    sys.path.insert(0, {tests!r})
    from support import FakeEmbedder
    from cstoqa import indexing
    from cstoqa.index import dense
    from cstoqa.settings import Settings

    stage, marker = {stage!r}, Path({marker!r})

    def stall():
        marker.write_text(stage)
        time.sleep(300)

    class StallingEmbedder(FakeEmbedder):
        def encode(self, texts):
            if stage == "encode":
                stall()
            return super().encode(texts)

    real_save = dense.save

    def stalling_save(index, path):  # called by store.save once the new generation's files are half written
        real_save(index, path)
        if stage == "save":
            stall()

    dense.save = stalling_save
    indexing.reindex(Path({corpus!r}), Path({index!r}), Settings(), StallingEmbedder())
    """
)


def run_and_kill(stage: str, corpus: Path, index_dir: Path, marker: Path) -> None:
    script = KILLED_REINDEX.format(
        tests=str(TESTS_DIR), stage=stage, marker=str(marker), corpus=str(corpus), index=str(index_dir)
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"reindex subprocess ended early: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                pytest.fail("reindex subprocess never reached the stage to kill")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("stage", ["encode", "save"])
def test_killed_reindex_leaves_the_old_index_usable(
    built: IndexData,
    small_corpus: Path,
    index_dir: Path,
    settings: Settings,
    fake_embedder: FakeEmbedder,
    tmp_path: Path,
    stage: str,
) -> None:
    guide = small_corpus / "guide.txt"
    guide.write_text(guide.read_text() + "\nFunding\n\nEach member pays dues every year.\n")
    run_and_kill(stage, small_corpus, index_dir, tmp_path / "stalled")

    old = store.load(index_dir)
    assert old.chunks == built.chunks and old.path == built.path
    if stage == "save":
        assert len(leftovers(index_dir)) == 1  # the half-written generation
    assistant = Assistant.open(small_corpus, index_dir, settings, fake_embedder, refresh=False)
    assert assistant.search("Where is the secretariat located?")[0].doc_id == "page.html"

    report = assistant.reindex()  # the lock died with the killed process
    assert report.changed == ["guide.txt"]
    assert leftovers(index_dir) == []
    assert_consistent(store.load(index_dir), fake_embedder)


def test_leftover_is_cleaned_by_an_unchanged_reindex(
    built: IndexData, small_corpus: Path, index_dir: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    leftover = index_dir / ".gen-20000101T000000-deadbeef.tmp"
    leftover.mkdir()
    (leftover / "chunk_vectors.npy").write_bytes(b"\0" * 1024)
    report, _ = indexing.reindex(small_corpus, index_dir, settings, fake_embedder)
    assert report.unchanged == DOCS
    assert leftovers(index_dir) == []


def test_second_reindex_while_locked_is_busy(
    built: IndexData, small_corpus: Path, index_dir: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    with store.FolderStore(index_dir).lock(), pytest.raises(IndexBusyError) as caught:
        indexing.reindex(small_corpus, index_dir, settings, fake_embedder)
    assert str(caught.value) == f"another reindex of {index_dir} is running; wait for it to finish"
    assert fake_embedder.calls == 0
    report, _ = indexing.reindex(small_corpus, index_dir, settings, fake_embedder)  # free again
    assert report.unchanged == DOCS
