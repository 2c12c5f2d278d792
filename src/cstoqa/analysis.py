"""Word analysis with offsets, the same as the BM25 tokenizer's (lower case, English stop words, Snowball stems)."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache

_WORD = re.compile(r"(?u)\b\w\w+\b")


@dataclass(frozen=True)
class Word:
    start: int
    end: int
    stem: str


# Function words only: articles, pronouns, auxiliaries, prepositions, conjunctions and interrogatives.
# Broader lists (spaCy's) also drop content words such as "full", "first" or "name".
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing done down during each few for from further had has have having he
    her here hers herself him himself his how i if in into is it its itself just many may me might more most
    much must my myself no nor not now of off on once only or other our ours ourselves out over own same shall
    she should so some such than that the their theirs them themselves then there these they this those through
    to too under until up upon very was we were what when where which while who whom whose why will with within
    without would you your yours yourself yourselves""".split()  # noqa: SIM905
)


def stopwords() -> frozenset[str]:
    return STOPWORDS


@lru_cache(maxsize=1)
def _stem():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english").stemWord


def words(text: str, offset: int = 0) -> list[Word]:
    """Content words of ``text`` with offsets shifted by ``offset``; stop words are left out."""
    stop, stem = stopwords(), _stem()
    out = []
    for match in _WORD.finditer(text):
        token = match.group().lower()
        if token not in stop:
            out.append(Word(offset + match.start(), offset + match.end(), stem(token)))
    return out


_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation) | set("’‘“”–—…")


def normalize_answer(text: str) -> str:
    """The official SQuAD v2.0 normalisation: lower case, no punctuation, articles or extra spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())
