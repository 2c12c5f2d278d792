"""The Python API: open an index over a corpus, search it, ask it, refresh it."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import unicodedata
from pathlib import Path

from cstoqa import indexing
from cstoqa.answer.answerer import abstention, answer_question
from cstoqa.embedding import Embedder, SentenceTransformerEmbedder
from cstoqa.errors import (
    CorpusError,
    CstoqaError,
    IndexBusyError,
    IndexMissingError,
    IndexOutdatedError,
    InvalidQuestionError,
)
from cstoqa.index.store import IndexData
from cstoqa.index.stores import IndexStore, open_store
from cstoqa.reader import Reader
from cstoqa.reader.model import TransformerReader
from cstoqa.retrieval import retrieve
from cstoqa.settings import Settings
from cstoqa.types import Answer, IndexReport, Passage, ReadSpan

log = logging.getLogger(__name__)
RETRY_SECONDS = 60.0  # before loading again a generation that failed to load
_SURROGATE = re.compile("[\ud800-\udfff]")


def displayable(text: str) -> str:
    """``text`` with lone surrogates (what Python makes of undecodable bytes in argv, or a JSON ``\\ud800``)
    replaced by U+FFFD, so that an answer echoing it can still be printed and serialised as JSON."""
    return _SURROGATE.sub("\ufffd", text)


def clean_question(question: str, max_chars: int) -> str:
    """Collapse control characters and whitespace; reject what cannot be a question, saying why."""
    if not isinstance(question, str):
        raise InvalidQuestionError("the question must be text")
    text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in question)
    text = " ".join(text.split())
    if not text:
        raise InvalidQuestionError("the question is empty; type a question about the documents")
    if len(text) > max_chars:
        raise InvalidQuestionError(
            f"the question is {len(text)} characters long; the limit is {max_chars}: ask about one thing at a time"
        )
    if not any(ch.isalnum() for ch in text):
        raise InvalidQuestionError("the question has no words in it; type a question about the documents")
    return text


class Assistant:
    """Thread-safe for questions; a reindex swaps in the new index whole, so questions never see half of one."""

    def __init__(
        self,
        corpus_dir: Path,
        index_dir: str | os.PathLike[str] | IndexStore,
        settings: Settings,
        embedder: Embedder,
        data: IndexData,
        reader: Reader | None = None,
    ) -> None:
        self.corpus_dir = corpus_dir
        self.store = open_store(index_dir)
        self.settings = settings
        self.embedder = embedder
        self.reader = reader or TransformerReader()
        self._data = data
        self._reindex_lock = threading.Lock()
        self._next_check = time.monotonic() + settings.follow_seconds
        self._refused: str | None = None
        self._retry_at = 0.0
        self.last_report: IndexReport | None = None

    @classmethod
    def open(
        cls,
        corpus_dir: str | os.PathLike[str] = "corpus",
        index_dir: str | os.PathLike[str] | IndexStore = "index",
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        refresh: bool = True,
        reader: Reader | None = None,
    ) -> Assistant:
        """Load the index, building it when missing or incompatible and refreshing it when the corpus changed.

        A damaged index raises IndexCorruptError rather than being silently rebuilt, so the user learns of it.
        """
        settings = settings or Settings()
        embedder = embedder or SentenceTransformerEmbedder(settings.model_name)
        corpus, index = Path(corpus_dir), open_store(index_dir)
        report: IndexReport | None = None
        try:
            manifest = index.read_manifest()
            usable = indexing.compatible(manifest, settings) is None
        except (IndexMissingError, IndexOutdatedError):
            usable = False
        if not usable or (
            refresh and corpus.is_dir() and not indexing.is_current(manifest, indexing.scan(corpus, settings)[0])
        ):
            if not corpus.is_dir():
                raise CorpusError(
                    f"corpus folder {corpus} does not exist and there is no usable index in {index.describe()}"
                )
            try:
                report, data = indexing.reindex(corpus, index, settings, embedder)
            except IndexBusyError:
                if not usable:
                    raise
                # Another process is refreshing the index: answer from the one in place, as a reader would.
                report = None
        assistant = cls(corpus, index, settings, embedder, data if report and data else index.load(), reader)
        assistant.last_report = report
        return assistant

    @property
    def data(self) -> IndexData:
        """The live generation; every ``settings.follow_seconds`` the store is asked (a symlink read, or one
        Milvus call) whether another process switched it, so servers sharing an index follow a reindex made
        elsewhere."""
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.settings.follow_seconds
            self._follow()
        return self._data

    def _follow(self) -> None:
        """Load a generation another process switched in, unless it was built for another model or settings;
        on any failure keep answering from the generation in hand and try that one again a minute later."""
        if not self._reindex_lock.acquire(blocking=False):
            return  # this process is reindexing and swaps in what it builds
        current = None
        try:
            current = self.store.current()
            refused = current == self._refused and time.monotonic() < self._retry_at
            if current is None or current == self._data.generation or refused:
                return
            data = self.store.load()
            reason = indexing.compatible(data.manifest, self.settings)
            if reason is not None:
                raise CstoqaError(f"the index now in {self.store.describe()} was built differently ({reason})")
            self._data = data
        except (CstoqaError, OSError, ValueError) as exc:
            self._refused, self._retry_at = current, time.monotonic() + RETRY_SECONDS
            log.warning("kept the index in hand: %s", exc)
        finally:
            self._reindex_lock.release()

    def reindex(self, rebuild: bool = False) -> IndexReport:
        with self._reindex_lock:
            report, data = indexing.reindex(self.corpus_dir, self.store, self.settings, self.embedder, rebuild)
            if data is not None:
                self._data = data
            self.last_report = report
            return report

    def search(self, question: str, top_k: int | None = None) -> list[Passage]:
        text = clean_question(question, self.settings.max_question_chars)
        top_k = self.settings.top_k if top_k is None else top_k
        if top_k < 1:
            raise InvalidQuestionError(f"top_k must be at least 1, got {top_k}")
        data = self.data
        return retrieve(data, text, self.embedder.encode([text])[0], self.settings, top_k)

    def ask(self, question: str, threshold: float | None = None, timings: dict[str, float] | None = None) -> Answer:
        """Never raises for a bad question: the Answer abstains and says what was wrong.

        ``threshold`` overrides the settings' abstention threshold for this question (0 answers always);
        ``timings``, when given, receives the milliseconds each stage took (the benchmarks read it)."""
        try:
            text = clean_question(question, self.settings.max_question_chars)
        except InvalidQuestionError as exc:
            return abstention(displayable(question) if isinstance(question, str) else "", str(exc), [])
        data = self.data
        passages, spans = self.read(text, data, timings)
        started = time.perf_counter()
        threshold = self.settings.abstain_threshold if threshold is None else threshold
        answer = answer_question(text, passages, spans, data, self.settings.top_k, threshold)
        if timings is not None:
            timings["answer"] = (time.perf_counter() - started) * 1000
        return answer

    def read(
        self, text: str, data: IndexData, timings: dict[str, float] | None = None
    ) -> tuple[list[Passage], list[ReadSpan]]:
        """Retrieve for a clean question and read the first passages: what every answer is decided from."""
        settings = self.settings
        marks = [time.perf_counter()]
        vector = self.embedder.encode([text])[0]
        marks.append(time.perf_counter())
        passages = retrieve(data, text, vector, settings, max(settings.top_k, settings.reader_passages))
        marks.append(time.perf_counter())
        spans = self.reader.read(text, passages[: settings.reader_passages])
        marks.append(time.perf_counter())
        if timings is not None:
            for stage, begin, end in zip(("encode", "retrieve", "read"), marks, marks[1:], strict=False):
                timings[stage] = (end - begin) * 1000
        return passages, spans
