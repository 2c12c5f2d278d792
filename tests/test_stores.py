"""Store behaviour that every IndexStore keeps: the folder store and Milvus (Lite) pass the same tests.

Round trip, the same search results as in-memory FAISS + bm25s, incremental counts, two generations kept,
an atomic switch under a reader that keeps asking, a reindex that dies half-way, the lock, an outdated
format. Milvus-only tests follow: a server shared by one indexer and two readers, a killed indexer, errors.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from cstoqa import indexing
from cstoqa.assistant import Assistant
from cstoqa.chunking import embedding_text
from cstoqa.errors import CstoqaError, IndexBusyError, IndexCorruptError, IndexMissingError, IndexOutdatedError
from cstoqa.index import dense
from cstoqa.index.search import FaissSearcher
from cstoqa.index.store import FolderStore, IndexData, IndexTables
from cstoqa.index.stores import IndexStore, open_store
from cstoqa.settings import Settings
from support import FakeEmbedder, FakeReader, assert_valid_answer, free_port

DOCS = ["guide.txt", "notes.md", "page.html"]
QUESTIONS = [
    "Where is the secretariat located?",
    "When was the treaty signed?",
    "Which members joined the organisation?",
    "What do the drills practise?",
]
TESTS_DIR = Path(__file__).resolve().parent


def milvus_available() -> bool:
    try:
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError:
        return False
    return True


needs_milvus = pytest.mark.skipif(not milvus_available(), reason="the milvus extra is not installed")


def generations(store: IndexStore) -> set[str]:
    """Every generation the store holds, half-written ones included."""
    if isinstance(store, FolderStore):
        return {p.name.lstrip(".").removesuffix(".tmp") for p in store.folder.iterdir() if "gen-" in p.name}
    return store._generations()  # type: ignore[attr-defined,no-any-return]


@pytest.fixture(params=["folder", pytest.param("milvus", marks=needs_milvus)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], IndexStore]:
    """A new handle on the same index each call, as a second server would open it."""
    spec = str(tmp_path / "index") if request.param == "folder" else f"milvus:{tmp_path / 'milvus.db'}"
    return lambda: open_store(spec)


@pytest.fixture
def store(make_store: Callable[[], IndexStore]) -> IndexStore:
    return make_store()


def ranked(hits: list[tuple[int, float]]) -> list[tuple[float, int]]:
    """Best first, ties in row order; zero scores dropped: stores break ties, and fill k with zeros, differently."""
    return sorted((-round(score, 4), row) for row, score in hits if score > 1e-6)


def build(corpus: Path, store: IndexStore, embedder: FakeEmbedder) -> IndexData:
    _, data = indexing.reindex(corpus, store, Settings(), embedder)
    assert data is not None
    embedder.reset()
    return data


def test_round_trip_keeps_tables_and_searches_like_faiss_and_bm25s(
    small_corpus: Path, make_store: Callable[[], IndexStore], fake_embedder: FakeEmbedder
) -> None:
    built = build(small_corpus, make_store(), fake_embedder)
    loaded = make_store().load()
    assert loaded.manifest == built.manifest and loaded.generation == built.generation
    assert loaded.documents == built.documents
    assert loaded.chunks == built.chunks and loaded.sentences == built.sentences
    np.testing.assert_allclose(loaded.chunk_vectors, built.chunk_vectors, atol=1e-6)
    np.testing.assert_allclose(loaded.sentence_vectors, built.sentence_vectors, atol=1e-6)

    memory = FaissSearcher.build(
        built.chunk_vectors, built.sentence_vectors, [embedding_text(c) for c in built.chunks], 50_000
    )
    for question in QUESTIONS:
        vector = fake_embedder.encode([question])[0]
        for search in ("chunks_by_vector", "sentences_by_vector"):
            got, want = getattr(loaded.searcher, search)(vector, 5), getattr(memory, search)(vector, 5)
            assert ranked(got) == ranked(want)
        got, want = loaded.searcher.chunks_by_words(question, 3), memory.chunks_by_words(question, 3)
        assert [row for row, _ in got] == [row for row, _ in want]  # BM25 scales differ; the order is the same
    assert loaded.searcher.chunks_by_words("the of and", 5) == []


def test_a_store_with_no_index_says_how_to_build_one(store: IndexStore) -> None:
    assert store.current() is None
    with pytest.raises(IndexMissingError, match="build one with `cstoqa index`"):
        store.read_manifest()


def test_only_new_or_changed_documents_are_embedded_and_removed_ones_go(
    small_corpus: Path, store: IndexStore, fake_embedder: FakeEmbedder
) -> None:
    built = build(small_corpus, store, fake_embedder)
    report, data = indexing.reindex(small_corpus, store, Settings(), fake_embedder)
    assert data is None and report.unchanged == DOCS and fake_embedder.calls == 0
    assert store.current() == built.generation

    guide = small_corpus / "guide.txt"
    guide.write_text(guide.read_text() + "\nFunding\n\nEach member pays dues every year.\n")
    (small_corpus / "extra.txt").write_text("Extra document about winter drills near the border.\n")
    (small_corpus / "notes.md").unlink()
    report, data = indexing.reindex(small_corpus, store, Settings(), fake_embedder)
    assert data is not None
    assert (report.changed, report.added, report.removed, report.unchanged) == (
        ["guide.txt"],
        ["extra.txt"],
        ["notes.md"],
        ["page.html"],
    )
    fresh = sum(c.doc_id in ("guide.txt", "extra.txt") for c in data.chunks)
    fresh += sum(s.doc_id in ("guide.txt", "extra.txt") for s in data.sentences)
    assert fake_embedder.texts_encoded == fresh
    loaded = store.load()
    assert sorted(loaded.documents) == ["extra.txt", "guide.txt", "page.html"]
    assert {c.doc_id for c in loaded.chunks} == set(loaded.documents)
    assert loaded.chunks == data.chunks and loaded.generation == store.current() != built.generation


def test_three_reindexes_keep_the_current_and_the_previous_generation(
    small_corpus: Path, store: IndexStore, fake_embedder: FakeEmbedder
) -> None:
    names = []
    for i in range(3):
        (small_corpus / f"extra{i}.txt").write_text(f"Extra document number {i} about drills.\n")
        names.append(build(small_corpus, store, fake_embedder).generation)
    assert generations(store) == set(names[1:]) and store.current() == names[2]
    store.remove_leftovers()  # what the next reindex does first: it must know which generation came before
    assert generations(store) == set(names[1:])


def test_a_reader_asking_through_three_switches_always_gets_whole_answers(
    small_corpus: Path, make_store: Callable[[], IndexStore], fake_embedder: FakeEmbedder, fake_reader: FakeReader
) -> None:
    build(small_corpus, make_store(), fake_embedder)
    settings = Settings(follow_seconds=0.0)
    reader = Assistant.open(small_corpus, make_store(), settings, FakeEmbedder(), refresh=False, reader=fake_reader)
    seen: set[str] = set()
    failures: list[BaseException] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            try:
                before = reader.data
                answer = reader.ask("Where is the secretariat located?", threshold=0.0)
                after = reader.data  # ask used one of the two: a switch may fall between
                seen.update((before.generation, after.generation))
                assert answer.text == "Moscow"
                assert_valid_answer(answer, before.documents | after.documents)
            except BaseException as exc:  # collected and re-raised in the test thread
                failures.append(exc)
                return

    thread = threading.Thread(target=ask)
    thread.start()
    writer = make_store()
    page = small_corpus / "page.html"
    try:
        written = []
        for i in range(3):
            # A new document before page.html and a changed page.html: the Moscow chunk's row moves every time,
            # so a search of one generation paired with another's tables would cite the wrong chunk.
            (small_corpus / f"extra{i}.txt").write_text(f"Extra document number {i} about drills.\n")
            page.write_text(page.read_text().replace("</body>", f"<p>Revision {i}.</p></body>"))
            written.append(build(small_corpus, writer, fake_embedder).generation)
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive() and not failures, failures[:1]
    assert reader.data.generation == written[-1]
    assert len(seen) >= 2  # the reader moved on to new generations while it kept asking


def test_a_reindex_that_fails_half_way_leaves_the_old_index_and_its_leftovers_go_next_time(
    small_corpus: Path, store: IndexStore, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = build(small_corpus, store, fake_embedder)
    guide = small_corpus / "guide.txt"
    guide.write_text(guide.read_text() + "\nFunding\n\nEach member pays dues every year.\n")

    def fail(*args: object) -> None:
        raise OSError("disk full")

    if isinstance(store, FolderStore):
        monkeypatch.setattr(dense, "save", fail)
    else:
        monkeypatch.setattr(type(store), "_insert", fail)
    with pytest.raises(OSError, match="disk full"):
        indexing.reindex(small_corpus, store, Settings(), fake_embedder)
    monkeypatch.undo()

    assert store.current() == built.generation
    assert store.load().chunks == built.chunks
    assert len(generations(store)) == 2  # the half-written generation, not switched in
    report, data = indexing.reindex(small_corpus, store, Settings(), fake_embedder)
    assert report.changed == ["guide.txt"] and data is not None
    assert generations(store) == {built.generation, data.generation}


def test_a_second_reindex_while_one_holds_the_lock_is_busy(
    small_corpus: Path, store: IndexStore, fake_embedder: FakeEmbedder
) -> None:
    build(small_corpus, store, fake_embedder)
    with store.lock(), pytest.raises(IndexBusyError, match=r"another reindex of .* is running"):
        indexing.reindex(small_corpus, store, Settings(), fake_embedder)
    assert fake_embedder.calls == 0


def test_an_index_of_another_format_is_outdated_and_rebuilt_by_open(
    small_corpus: Path, store: IndexStore, fake_embedder: FakeEmbedder
) -> None:
    built = build(small_corpus, store, fake_embedder)
    built.manifest.format_version -= 1
    store.save(IndexTables(**{f.name: getattr(built, f.name) for f in fields(IndexTables)}), 50_000)
    with pytest.raises(IndexOutdatedError, match="has format"):
        store.read_manifest()
    assistant = Assistant.open(small_corpus, store, Settings(), fake_embedder, reader=FakeReader())
    assert assistant.last_report is not None and assistant.last_report.rebuilt
    assert store.read_manifest().format_version == built.manifest.format_version + 1


# --- Milvus only: a shared server, a killed indexer, errors ---------------------------------------------------


@pytest.fixture
def milvus_server(tmp_path: Path) -> Iterator[str]:
    """A Milvus Lite gRPC server in a child process: the stand-in for a Milvus cluster that several servers use."""
    port = free_port()
    server = shutil.which("milvus-lite", path=str(Path(sys.executable).parent)) or "milvus-lite"
    proc = subprocess.Popen(
        [server, "server", "--data-dir", str(tmp_path / "milvus-data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                open_store(f"milvus:{uri}")
                break
            except CstoqaError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the milvus-lite server did not start")
                time.sleep(0.2)
        yield uri
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@needs_milvus
def test_two_servers_see_the_index_one_indexer_switches(
    small_corpus: Path, milvus_server: str, fake_embedder: FakeEmbedder, fake_reader: FakeReader
) -> None:
    spec = f"milvus:{milvus_server}"
    first = build(small_corpus, open_store(spec), fake_embedder)
    settings = Settings(follow_seconds=0.0)
    servers = [
        Assistant.open(small_corpus, spec, settings, FakeEmbedder(), refresh=False, reader=fake_reader)
        for _ in range(2)
    ]
    assert [s.data.generation for s in servers] == [first.generation] * 2
    (small_corpus / "page.html").write_text("<html><body><p>The secretariat is located in Oslo.</p></body></html>")
    second = build(small_corpus, open_store(spec), fake_embedder)
    for server in servers:
        answer = server.ask("Where is the secretariat located?", threshold=0.0)
        assert server.data.generation == second.generation
        assert answer.text == "Oslo"
        assert_valid_answer(answer, server.data.documents)


KILLED_INDEXER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    sys.path.insert(0, {tests!r})
    from support import FakeEmbedder
    from cstoqa import indexing
    from cstoqa.index import milvus
    from cstoqa.settings import Settings

    real_insert = milvus.MilvusStore._insert

    def stalling_insert(self, collection, records):  # the chunks are in, the rest never comes
        real_insert(self, collection, records)
        Path({marker!r}).write_text(collection)
        time.sleep(300)

    milvus.MilvusStore._insert = stalling_insert
    indexing.reindex(Path({corpus!r}), {spec!r}, Settings(), FakeEmbedder())
    """
)


@needs_milvus
def test_a_killed_indexer_leaves_the_alias_on_the_old_generation(
    small_corpus: Path, milvus_server: str, fake_embedder: FakeEmbedder, tmp_path: Path
) -> None:
    spec = f"milvus:{milvus_server}"
    store = open_store(spec)
    built = build(small_corpus, store, fake_embedder)
    (small_corpus / "extra.txt").write_text("Extra document about winter drills near the border.\n")
    marker = tmp_path / "stalled"
    script = KILLED_INDEXER.format(tests=str(TESTS_DIR), marker=str(marker), corpus=str(small_corpus), spec=spec)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the indexer never reached the insert"
            time.sleep(0.05)
        proc.kill()
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()  # type: ignore[union-attr]

    assert store.current() == built.generation and len(generations(store)) == 2
    assert store.load().chunks == built.chunks
    report, data = indexing.reindex(small_corpus, store, Settings(), fake_embedder)
    assert report.added == ["extra.txt"] and data is not None
    assert generations(store) == {built.generation, data.generation}


@needs_milvus
def test_an_unreachable_milvus_is_one_line_without_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSTOQA_MILVUS_TOKEN", "root:s3cret-token")
    port = free_port()
    with pytest.raises(CstoqaError) as caught:
        open_store(f"milvus:http://127.0.0.1:{port}")
    message = str(caught.value)
    assert message.startswith(f"Milvus at http://127.0.0.1:{port}: ") and "\n" not in message
    assert "s3cret" not in message


@needs_milvus
def test_a_dropped_collection_is_damage_that_a_rebuild_repairs(
    small_corpus: Path, tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    store = open_store(f"milvus:{tmp_path / 'milvus.db'}")
    built = build(small_corpus, store, fake_embedder)
    store.client.drop_collection(f"{built.generation}_sentences")  # type: ignore[attr-defined]
    with pytest.raises(IndexCorruptError, match=r"is damaged .*rebuild it with `cstoqa index --rebuild`"):
        store.load()
    report, data = indexing.reindex(small_corpus, store, Settings(), fake_embedder, rebuild=True)
    assert report.rebuilt and data is not None and store.load().chunks == built.chunks


@needs_milvus
def test_a_milvus_lite_file_built_by_another_process_is_read_after_it_exits(
    small_corpus: Path, tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    spec = f"milvus:{tmp_path / 'milvus.db'}"
    script = BUILD_IN_CHILD.format(tests=str(TESTS_DIR), corpus=str(small_corpus), spec=spec)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=300)
    data = open_store(spec).load()  # Milvus keeps collections released after their process ends
    assert sorted(data.documents) == DOCS
    assert data.searcher.chunks_by_words("Where is the secretariat located?", 1)[0][0] == next(
        row for row, chunk in enumerate(data.chunks) if "Moscow" in chunk.text
    )
    report, changed = indexing.reindex(small_corpus, spec, Settings(), fake_embedder)
    assert report.unchanged == DOCS and changed is None and fake_embedder.calls == 0


BUILD_IN_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    sys.path.insert(0, {tests!r})
    from support import FakeEmbedder
    from cstoqa import indexing
    from cstoqa.settings import Settings

    indexing.reindex(Path({corpus!r}), {spec!r}, Settings(), FakeEmbedder())
    """
)


def test_a_server_does_not_follow_into_an_index_built_with_other_settings(
    small_corpus: Path, make_store: Callable[[], IndexStore], fake_embedder: FakeEmbedder, fake_reader: FakeReader
) -> None:
    built = build(small_corpus, make_store(), fake_embedder)
    settings = Settings(follow_seconds=0.0)
    reader = Assistant.open(small_corpus, make_store(), settings, FakeEmbedder(), refresh=False, reader=fake_reader)
    other = indexing.reindex(small_corpus, make_store(), Settings(chunk_words=40), fake_embedder)[1]
    assert other is not None and make_store().current() == other.generation
    assert reader.data.generation == built.generation
    assert reader.ask("Where is the secretariat located?", threshold=0.0).text == "Moscow"


@needs_milvus
def test_milvus_fields_are_checked_in_bytes_and_addresses_shown_without_credentials() -> None:
    from cstoqa.index.milvus import MAX_TEXT, _checked, _shown

    fits = "é" * (MAX_TEXT // 2)
    assert _checked({"text": fits, "row": 1}, "chunk 1") == {"text": fits, "row": 1}
    with pytest.raises(CstoqaError, match=r"the text of chunk 1 of a.txt is longer than Milvus keeps"):
        _checked({"text": fits + "é"}, "chunk 1 of a.txt")
    assert _shown("https://ann:s3cret@milvus.example:19530") == "https://milvus.example:19530"
    assert _shown("http://host:19530") == "http://host:19530"
