"""Stage 4: hybrid retrieval — dense (FAISS) and lexical (BM25) lists fused by reciprocal rank fusion.

Three lists: chunks by cosine, chunks by BM25, and chunks in the order of their best sentence by cosine.
The sentence list finds a paraphrased question's passage when one sentence says it among many that don't.

RRF scores a chunk by sum_i w_i / (k + rank_i) over the retrievers that returned it, with k = 60 as in
Cormack, Clarke and Büttcher, "Reciprocal Rank Fusion outperforms Condorcet and individual Rank
Learning Methods", SIGIR 2009. It needs no score calibration between BM25 and cosine similarity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cstoqa.index.store import IndexData
from cstoqa.settings import Settings
from cstoqa.types import Passage


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], weights: Sequence[float], k: int = 60
) -> list[tuple[int, float]]:
    """Fuse ranked id lists (best first) into (id, score) pairs, best first; ties keep first-seen order."""
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def sentence_ranking(data: IndexData, query_vector: np.ndarray, settings: Settings) -> list[int]:
    """Chunk rows ordered by their best-matching sentence, each chunk once."""
    rows = (data.sentence_chunk[sid] for sid, _ in data.searcher.sentences_by_vector(query_vector, settings.candidates))
    return list(dict.fromkeys(row for row in rows if row >= 0))


def retrieve(data: IndexData, question: str, query_vector: np.ndarray, settings: Settings, top_k: int) -> list[Passage]:
    dense_hits = data.searcher.chunks_by_vector(query_vector, settings.candidates)
    lexical_hits = data.searcher.chunks_by_words(question, settings.candidates)
    fused = reciprocal_rank_fusion(
        [
            [row for row, _ in dense_hits],
            [row for row, _ in lexical_hits],
            sentence_ranking(data, query_vector, settings),
        ],
        [settings.dense_weight, settings.lexical_weight, settings.sentence_weight],
        settings.rrf_k,
    )
    dense_at = {row: (rank, score) for rank, (row, score) in enumerate(dense_hits, start=1)}
    lexical_at = {row: (rank, score) for rank, (row, score) in enumerate(lexical_hits, start=1)}
    passages = []
    for row, score in fused[:top_k]:
        d_rank, d_score = dense_at.get(row, (None, None))
        l_rank, l_score = lexical_at.get(row, (None, None))
        passages.append(
            Passage(
                chunk=data.chunks[row],
                score=score,
                dense_rank=d_rank,
                dense_score=d_score,
                lexical_rank=l_rank,
                lexical_score=l_score,
            )
        )
    return passages
