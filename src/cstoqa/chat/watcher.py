"""Reindex when files in the corpus change: a watchfiles loop in a daemon thread, debounced.

``Assistant.reindex`` builds the new generation beside the live one and swaps it in whole, so questions
asked while it runs are answered from the old index and the next ones from the new. The page's "Reindex"
button goes through :meth:`CorpusWatcher.reindex` too, so the status line knows about both; the
assistant's own lock runs them one after the other.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cstoqa.assistant import Assistant
from cstoqa.errors import CstoqaError, IndexBusyError
from cstoqa.types import IndexReport

log = logging.getLogger(__name__)

BUSY_RETRIES = 10
BUSY_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class IndexStatus:
    built_at: datetime | None
    documents: int
    chunks: int
    sentences: int
    generation: str
    watching: bool = False
    reindexing: bool = False
    last_error: str | None = None
    last_report: IndexReport | None = None


def parse_built_at(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def generation(assistant: Assistant) -> str:
    """Names the index generation in use: changes exactly when a reindex swaps in a new one."""
    data = assistant.data
    return data.generation or f"memory-{id(data):x}"


def index_status(assistant: Assistant, watcher: CorpusWatcher | None = None) -> IndexStatus:
    manifest = assistant.data.manifest
    return IndexStatus(
        built_at=parse_built_at(manifest.built_at),
        documents=manifest.counts.documents,
        chunks=manifest.counts.chunks,
        sentences=manifest.counts.sentences,
        generation=generation(assistant),
        watching=bool(watcher and watcher.running),
        reindexing=bool(watcher and watcher.reindexing),
        last_error=watcher.last_error if watcher else None,
        last_report=watcher.last_report if watcher else assistant.last_report,
    )


class CorpusWatcher:
    """Watches ``assistant.corpus_dir`` and reindexes after each debounced batch of changes."""

    def __init__(
        self,
        assistant: Assistant,
        debounce_ms: int = 1000,
        force_polling: bool | None = None,
        ignore: tuple[Path, ...] = (),
    ) -> None:
        self.assistant = assistant
        self.debounce_ms = debounce_ms
        self.force_polling = force_polling
        local = assistant.store.local_path
        self.ignore = (*(p.resolve() for p in ignore), *([local.resolve()] if local else []))
        self.reindex_count = 0
        self.last_error: str | None = None
        self.last_report: IndexReport | None = assistant.last_report
        self._busy = threading.Lock()
        self._reindexing = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def reindexing(self) -> bool:
        return self._reindexing > 0

    def start(self) -> CorpusWatcher:
        if self.running:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cstoqa-corpus-watcher", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=5)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> CorpusWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reindex(self, rebuild: bool = False, reason: str = "requested") -> IndexReport:
        """Bring the index in line with the corpus now; errors are raised and also kept for the status line."""
        with self._busy:
            self._reindexing += 1
        try:
            for attempt in range(BUSY_RETRIES):
                try:
                    report = self.assistant.reindex(rebuild=rebuild)
                    break
                except IndexBusyError:  # another process (`cstoqa index`) holds the index lock
                    if attempt == BUSY_RETRIES - 1:
                        raise
                    time.sleep(BUSY_WAIT_SECONDS)
            self.reindex_count += 1
            self.last_report = report
            self.last_error = None
            log.info("reindexed (%s): %s", reason, report.model_dump_json(exclude={"unchanged"}))
            return report
        except CstoqaError as exc:
            self.last_error = str(exc)
            raise
        finally:
            with self._busy:
                self._reindexing -= 1

    def _wanted(self, _change: object, path: str) -> bool:
        resolved = Path(path).resolve()
        return not any(resolved.is_relative_to(p) for p in self.ignore)

    def _run(self) -> None:
        import watchfiles

        base = watchfiles.DefaultFilter()

        def wanted(change: watchfiles.Change, path: str) -> bool:
            return base(change, path) and self._wanted(change, path)

        corpus = self.assistant.corpus_dir
        while not self._stop.is_set():
            if not corpus.is_dir():
                self._ready.set()
                self.last_error = f"the corpus folder {corpus} does not exist; waiting for it"
                self._stop.wait(2.0)
                continue
            try:
                watcher = watchfiles.watch(
                    corpus,
                    watch_filter=wanted,
                    debounce=self.debounce_ms,
                    step=50,
                    stop_event=self._stop,
                    rust_timeout=500,
                    yield_on_timeout=True,
                    raise_interrupt=False,
                    force_polling=self.force_polling,
                    ignore_permission_denied=True,
                )
                for changes in watcher:
                    self._ready.set()
                    if self._stop.is_set():
                        return
                    if not changes:
                        continue
                    log.info("corpus changed: %s", sorted(p for _, p in changes)[:10])
                    try:
                        self.reindex(reason="corpus changed")
                    except CstoqaError as exc:
                        log.warning("automatic reindex failed: %s", exc)
            except Exception as exc:  # the watch itself failed (folder removed, too many files): retry
                self._ready.set()
                self.last_error = f"watching {corpus} failed: {exc}"
                log.warning(self.last_error)
                self._stop.wait(2.0)
