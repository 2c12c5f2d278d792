"""Proposed source changes, applied as monkeypatches so the bench can measure them without editing src/.

Each is a context manager; ``all_query_prototypes`` applies every question-time one. The bench checks that
answers and passages are unchanged under them. The source change each stands for is in its docstring.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import lru_cache
from typing import Any


@contextmanager
def bm25_without_thread_pool() -> Iterator[None]:
    """src/cstoqa/index/lexical.py, search(): ``n_threads=1`` → ``n_threads=0``.

    bm25s treats any n_threads > 0 as "use a ThreadPoolExecutor": one thread is started and joined per
    question. n_threads=0 scores the single query inline with the same code and gives the same rows and scores.
    """
    from cstoqa.index import lexical

    real = lexical.search

    def search(retriever: Any, size: int, query: str, k: int) -> list[tuple[int, float]]:
        tokens = lexical.tokenize([query])
        k = min(k, size)
        if retriever is None or k <= 0 or not tokens[0]:
            return []
        rows, scores = retriever.retrieve(tokens, k=k, show_progress=False, n_threads=0)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if s > 0]

    lexical.search = search  # type: ignore[assignment]
    try:
        yield
    finally:
        lexical.search = real  # type: ignore[assignment]


@contextmanager
def faiss_single_thread_search() -> Iterator[None]:
    """src/cstoqa/index/dense.py: search with one OpenMP thread (``faiss.omp_set_num_threads(1)`` in search(),
    and the core count in build() around ``index.add`` so HNSW construction stays parallel).

    A single-query flat search is split across FAISS's OpenMP threads; on 2 cores that are busy with other work
    the second thread waits for a time slice and one search takes many times longer than on one thread.
    """
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _words_module() -> Any:
    """Where ``words`` lives (it moved from cstoqa.answer.analysis to cstoqa.analysis)."""
    import importlib

    for name in ("cstoqa.analysis", "cstoqa.answer.analysis"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("no cstoqa analysis module with words()")


@contextmanager
def cached_words(cached: Any = None, maxsize: int = 8192) -> Iterator[None]:
    """src/cstoqa/answer/sentence_scoring.py and spans.py: memoise ``words(text, offset)`` for index text
    (``functools.lru_cache``; callers only read the list). The answerer re-tokenises and re-stems the same index
    sentences and entity spans for every question; a bounded cache makes repeat visits free. The question itself
    (answerer.py) is left uncached. (Alternative: store the stems with each Sentence at index time.)
    """
    from cstoqa.answer import sentence_scoring, spans

    cached = cached or new_words_cache(maxsize)
    targets = [m for m in (sentence_scoring, spans) if hasattr(m, "words")]
    saved = [m.words for m in targets]
    for m in targets:
        m.words = cached  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for m, fn in zip(targets, saved, strict=True):
            m.words = fn  # type: ignore[attr-defined]


def new_words_cache(maxsize: int = 8192) -> Any:
    return lru_cache(maxsize=maxsize)(_words_module().words)


@contextmanager
def all_query_prototypes(words_cache: Any = None) -> Iterator[None]:
    """Every question-time change at once; pass ``words_cache`` to keep one word cache across entries."""
    with ExitStack() as stack:
        stack.enter_context(bm25_without_thread_pool())
        stack.enter_context(faiss_single_thread_search())
        stack.enter_context(cached_words(words_cache))
        yield
