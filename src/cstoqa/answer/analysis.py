"""Word analysis with offsets, matching the BM25 tokenizer (lower case, English stop words, Snowball stems)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_WORD = re.compile(r"(?u)\b\w\w+\b")


@dataclass(frozen=True)
class Word:
    start: int
    end: int
    stem: str


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _stem():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english").stemWord


def words(text: str, offset: int = 0) -> list[Word]:
    """Content words of ``text`` with offsets shifted by ``offset``; stop words are left out."""
    stop, stem = _stopwords(), _stem()
    out = []
    for match in _WORD.finditer(text):
        token = match.group().lower()
        if token not in stop:
            out.append(Word(offset + match.start(), offset + match.end(), stem(token)))
    return out
