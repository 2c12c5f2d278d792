"""Automatic reindex on corpus changes, with questions answered throughout (fake embedder, no spaCy)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from cstoqa.assistant import Assistant
from cstoqa.chat.watcher import CorpusWatcher, generation, index_status
from cstoqa.settings import Settings
from cstoqa.types import Answer
from support import FakeEmbedder, FakeReader

ZEBRA = "Zebra Council\n\nThe zebra council meets in Reykjavik every spring to count the stripes.\n"


class SlowEmbedder(FakeEmbedder):
    """Embedding in the watcher's thread takes a while, so questions are certainly asked during a reindex."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if threading.current_thread().name == "cstoqa-corpus-watcher":
            time.sleep(0.3)
        return super().encode(texts)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_corpus_change_triggers_reindex_while_questions_keep_being_answered(
    small_corpus: Path, index_dir: Path, settings: Settings
) -> None:
    assistant = Assistant.open(small_corpus, index_dir, settings, SlowEmbedder(), reader=FakeReader())
    before = generation(assistant)
    results: list[tuple[object, bool]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    with CorpusWatcher(assistant, debounce_ms=200) as watcher:

        def ask_in_a_loop() -> None:
            while not stop.is_set():
                try:
                    during = watcher.reindexing
                    answer = assistant.ask("Where is the secretariat located?")
                    results.append((answer, during and watcher.reindexing))
                except BaseException as exc:  # anything at all is a failure of the test
                    errors.append(exc)

        asker = threading.Thread(target=ask_in_a_loop)
        asker.start()
        try:
            time.sleep(0.2)
            (small_corpus / "zebra.txt").write_text(ZEBRA, encoding="utf-8")
            assert wait_for(lambda: generation(assistant) != before), "no reindex after the corpus changed"
            time.sleep(0.2)  # a few more questions against the new index
        finally:
            stop.set()
            asker.join()
        assert watcher.running
        status = index_status(assistant, watcher)

    assert not watcher.running
    assert not errors
    assert len(results) > 10
    assert all(isinstance(answer, Answer) for answer, _ in results)
    assert any(during for _, during in results), "no question was answered while the reindex ran"
    assert watcher.reindex_count == 1 and watcher.last_error is None
    assert watcher.last_report is not None and watcher.last_report.added == ["zebra.txt"]
    assert status.documents == 4 and status.generation == generation(assistant) and status.watching
    assert assistant.search("zebra council Reykjavik stripes")[0].doc_id == "zebra.txt"
    assert assistant.ask("Where does the zebra council meet?").passages[0].doc_id == "zebra.txt"


def test_a_burst_of_changes_is_one_reindex_and_edits_and_deletions_follow(
    open_assistant: Callable[..., Assistant], small_corpus: Path
) -> None:
    assistant = open_assistant()
    with CorpusWatcher(assistant, debounce_ms=300) as watcher:
        for i in range(5):
            (small_corpus / f"burst{i}.txt").write_text(f"Burst note {i} about quokka number {i}.", encoding="utf-8")
        assert wait_for(lambda: watcher.reindex_count >= 1)
        time.sleep(0.5)
        assert watcher.reindex_count == 1
        assert len(assistant.data.documents) == 8

        (small_corpus / "burst0.txt").unlink()
        (small_corpus / "guide.txt").write_text("Treaty Basics\n\nThe treaty mentions a narwhal.\n", encoding="utf-8")
        assert wait_for(lambda: watcher.reindex_count >= 2)
        assert wait_for(lambda: not watcher.reindexing)
    report = watcher.last_report
    assert report is not None
    assert report.removed == ["burst0.txt"] and report.changed == ["guide.txt"]
    assert assistant.search("narwhal")[0].doc_id == "guide.txt"


def test_a_failed_reindex_is_reported_and_the_old_index_keeps_answering(
    open_assistant: Callable[..., Assistant], small_corpus: Path
) -> None:
    assistant = open_assistant()
    before = generation(assistant)
    with CorpusWatcher(assistant, debounce_ms=100) as watcher:
        for path in small_corpus.iterdir():
            path.unlink()
        assert wait_for(lambda: watcher.last_error is not None)
        assert watcher.running  # the watcher survives the failure
        assert "no readable document" in (index_status(assistant, watcher).last_error or "")
        assert generation(assistant) == before
        assert isinstance(assistant.ask("Where is the secretariat located?"), Answer)

        (small_corpus / "zebra.txt").write_text(ZEBRA, encoding="utf-8")
        assert wait_for(lambda: generation(assistant) != before)
        assert wait_for(lambda: watcher.last_error is None)
    assert list(assistant.data.documents) == ["zebra.txt"]


def test_changes_inside_ignored_folders_do_not_reindex(
    open_assistant: Callable[..., Assistant], small_corpus: Path
) -> None:
    assistant = open_assistant()
    ignored = small_corpus / "data"
    ignored.mkdir()
    with CorpusWatcher(assistant, debounce_ms=100, ignore=(ignored,)) as watcher:
        (ignored / "feedback.jsonl").write_text("{}\n", encoding="utf-8")
        time.sleep(0.8)
        assert watcher.reindex_count == 0
        (small_corpus / "zebra.txt").write_text(ZEBRA, encoding="utf-8")
        assert wait_for(lambda: watcher.reindex_count == 1)


def test_manual_reindex_reports_and_is_counted(open_assistant: Callable[..., Assistant], small_corpus: Path) -> None:
    assistant = open_assistant()
    watcher = CorpusWatcher(assistant)  # not started: the Reindex button works without the watch thread
    (small_corpus / "zebra.txt").write_text(ZEBRA, encoding="utf-8")
    report = watcher.reindex()
    assert report.added == ["zebra.txt"] and watcher.reindex_count == 1 and not watcher.reindexing
    assert watcher.reindex().wrote_index is False
