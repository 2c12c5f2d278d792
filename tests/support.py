"""Test doubles and shared test data: a deterministic fake embedder and reader, a three-document corpus.

The fake embedder is a hashed bag of stemmed words (the same analysis BM25 uses), so cosine similarity
between a question and a passage grows with the content words they share: dense retrieval behaves
sensibly in tests without loading torch. Fixtures that hand these out live in ``conftest.py``.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

from cstoqa.analysis import words
from cstoqa.types import Answer, Document, Passage, ReadSpan

DIMENSIONS = 512


class FakeEmbedder:
    """Implements the ``cstoqa.embedding.Embedder`` protocol; counts calls and texts encoded."""

    def __init__(self, name: str = "all-MiniLM-L6-v2", dimensions: int = DIMENSIONS) -> None:
        self.name = name
        self.dimensions = dimensions
        self.calls = 0
        self.texts_encoded = 0

    @property
    def loaded(self) -> bool:
        """Like SentenceTransformerEmbedder: true once the "model" has been used."""
        return self.calls > 0

    def reset(self) -> None:
        self.calls = 0
        self.texts_encoded = 0

    def vector(self, text: str) -> np.ndarray:
        row = np.zeros(self.dimensions, dtype=np.float32)
        for word in words(text):
            row[zlib.crc32(word.stem.encode()) % self.dimensions] += 1.0
        norm = float(np.linalg.norm(row))
        if norm == 0.0:  # no content word: a fixed unit vector keeps every row unit length
            row[0] = 1.0
            return row
        return row / norm

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts_encoded += len(texts)
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.ascontiguousarray(np.vstack([self.vector(t) for t in texts]), dtype=np.float32)


class FakeReader:
    """Implements the ``cstoqa.reader.Reader`` protocol without a model.

    In each passage it takes the sentence sharing most content words with the question and, in it, the first
    number or capitalised word (past the sentence's first word) that the question does not contain. Its
    margin over "no answer" is the shared-word count minus 2, so a passage sharing fewer than two words says
    "not here"."""

    name = "fake-reader"

    def __init__(self) -> None:
        self.calls = 0

    def read(self, question: str, passages: Sequence[Passage]) -> list[ReadSpan]:
        self.calls += 1
        asked = {w.stem for w in words(question)}
        found = []
        for i, passage in enumerate(passages):
            best: tuple[int, int, int] | None = None
            for sentence in re.finditer(r"[^.!?]+[.!?]?", passage.text):
                shared = len(asked & {w.stem for w in words(sentence.group())})
                for match in re.finditer(r"\b(\d[\d,]*|[A-Z][\w-]+)\b", sentence.group()):
                    if match.start() == len(sentence.group()) - len(sentence.group().lstrip()):
                        continue
                    if {w.stem for w in words(match.group())} & asked:
                        continue
                    start = sentence.start() + match.start()
                    if best is None or shared > best[0]:
                        best = (shared, start, start + len(match.group()))
                    break
            if best is not None:
                shared, start, end = best
                found.append(
                    ReadSpan(
                        passage=i,
                        doc_id=passage.doc_id,
                        start=passage.start + start,
                        end=passage.start + end,
                        text=passage.text[start:end],
                        score=float(shared),
                        null_score=2.0,
                    )
                )
        return found


GUIDE_TXT = """\
Treaty Basics

The Collective Security Treaty was signed in Tashkent in 1992 by six states. It created a framework \
for collective defence of its members.

See also  The Comprehensive History of Non-Aggression Pacts

Membership

Armenia, Belarus, Kazakhstan, Kyrgyzstan, Russia and Tajikistan are full members. Observer states may \
attend meetings without a vote.
"""

NOTES_MD = """\
# Peacekeeping Forces

The organisation keeps a peacekeeping force for missions in member states.

## Deployment

The collective rapid reaction force was deployed to Kazakhstan in January 2022 after unrest in Almaty.

```bash
# install the tools first
echo ready
```

Setext Heading
--------------

Exercises are held every autumn with troops from every member state.
"""

PAGE_HTML = """\
<!DOCTYPE html>
<html>
<head><title>Secretariat Page</title><script>var secret = "script text never indexed";</script></head>
<body>
<h2>Secretariat</h2>
<p>The secretariat is located in Moscow &amp; coordinates the daily work of the organisation.</p>
<script>alert("script body never indexed")</script>
<style>p { color: red; }</style>
<h2>Budget</h2>
<p>Members contribute to the common budget every year in equal shares &mdash; set by the council.</p>
</body>
</html>
"""

SMALL_CORPUS = {"guide.txt": GUIDE_TXT, "notes.md": NOTES_MD, "page.html": PAGE_HTML}


def free_port() -> int:
    """A free TCP port on the loopback interface (the only address the tests listen on)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_valid_answer(answer: object, documents: dict[str, Document]) -> None:
    """An Answer that keeps its promises: abstains with a message or answers with citations that quote the source."""
    assert isinstance(answer, Answer)
    assert 0.0 <= answer.confidence <= 1.0
    assert answer.abstained == (answer.text is None)
    if answer.abstained:
        assert answer.kind == "abstain" and answer.message.strip() and answer.citations == []
    else:
        assert answer.text and answer.citations
    for c in answer.citations:
        text = documents[c.doc_id].text
        assert 0 <= c.start < c.end <= len(text) and text[c.start : c.end] == c.quote
        if c.answer_start is not None:
            assert c.answer_end is not None and 0 <= c.answer_start < c.answer_end <= len(text)
    for p in answer.passages:
        assert documents[p.doc_id].text[p.start : p.end] == p.text
