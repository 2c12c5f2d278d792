"""The three searches retrieval asks of an index generation: the seam between retrieval and the store that holds it.

Rows are positions in the generation's chunk and sentence tables. The folder store answers with FAISS and
bm25s in this process; another store may answer from a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from cstoqa.index import dense, lexical

if TYPE_CHECKING:
    import bm25s
    import faiss


class Searcher(Protocol):
    def chunks_by_vector(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk row, cosine), best first."""
        ...

    def chunks_by_words(self, text: str, k: int) -> list[tuple[int, float]]:
        """(chunk row, BM25 score > 0), best first; nothing for a text of stop words only."""
        ...

    def sentences_by_vector(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(sentence row, cosine), best first."""
        ...


@dataclass
class FaissSearcher:
    """FAISS over chunk and sentence vectors, bm25s over chunk text, all in memory."""

    chunk_index: faiss.Index
    sentence_index: faiss.Index
    bm25: bm25s.BM25 | None
    chunks: int

    @classmethod
    def build(
        cls, chunk_vectors: np.ndarray, sentence_vectors: np.ndarray, texts: list[str], approximate_above: int
    ) -> FaissSearcher:
        return cls(
            dense.build(chunk_vectors, approximate_above),
            dense.build(sentence_vectors, approximate_above),
            lexical.build(texts),
            len(texts),
        )

    def chunks_by_vector(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        return dense.search(self.chunk_index, vector, k)

    def chunks_by_words(self, text: str, k: int) -> list[tuple[int, float]]:
        return lexical.search(self.bm25, self.chunks, text, k)

    def sentences_by_vector(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        return dense.search(self.sentence_index, vector, k)
