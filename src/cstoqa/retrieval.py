"""Stage 4: hybrid retrieval — dense (FAISS) and lexical (BM25) lists fused by reciprocal rank fusion.

Three lists: chunks by cosine, chunks by BM25, and chunks in the order of their best sentence by cosine.
The sentence list finds a paraphrased question's passage when one sentence says it among many that don't.

RRF scores a chunk by sum_i w_i / (k + rank_i) over the retrievers that returned it, with k = 60 as in
Cormack, Clarke and Büttcher, "Reciprocal Rank Fusion outperforms Condorcet and individual Rank
Learning Methods", SIGIR 2009. It needs no score calibration between BM25 and cosine similarity.

The weights depend on the question: when the best BM25 passage holds most of the question's words, BM25 is
usually right and leads; when it holds few, the question is worded differently from the text and the dense
lists lead. One fixed set of weights trades one kind of question for the other (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from cstoqa.index import lexical
from cstoqa.index.store import IndexData
from cstoqa.settings import FusionWeights, Settings
from cstoqa.types import Passage


class Rankings(BaseModel):
    """What the three retrievers returned for one question, before fusion."""

    model_config = ConfigDict(frozen=True)

    dense: list[tuple[int, float]]
    lexical: list[tuple[int, float]]
    sentence: list[int]
    coverage: float


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


def lexical_coverage(question: str, passage: str) -> float:
    """Share of the question's distinct analysed words (stemmed, stop words dropped) that the passage holds."""
    asked, held = lexical.tokenize([question, passage])
    words = set(asked)
    return len(words & set(held)) / len(words) if words else 0.0


def rankings_for(data: IndexData, question: str, query_vector: np.ndarray, settings: Settings) -> Rankings:
    lexical_hits = data.searcher.chunks_by_words(question, settings.candidates)
    return Rankings(
        dense=data.searcher.chunks_by_vector(query_vector, settings.candidates),
        lexical=lexical_hits,
        sentence=sentence_ranking(data, query_vector, settings),
        coverage=lexical_coverage(question, data.chunks[lexical_hits[0][0]].text) if lexical_hits else 0.0,
    )


def fusion_weights(coverage: float, settings: Settings) -> FusionWeights:
    return settings.overlap_weights if coverage >= settings.coverage_cut else settings.paraphrase_weights


def fuse(rankings: Rankings, weights: FusionWeights, k: int) -> list[tuple[int, float]]:
    return reciprocal_rank_fusion(
        [[row for row, _ in rankings.dense], [row for row, _ in rankings.lexical], rankings.sentence],
        [weights.dense, weights.lexical, weights.sentence],
        k,
    )


def retrieve(data: IndexData, question: str, query_vector: np.ndarray, settings: Settings, top_k: int) -> list[Passage]:
    rankings = rankings_for(data, question, query_vector, settings)
    fused = fuse(rankings, fusion_weights(rankings.coverage, settings), settings.rrf_k)
    dense_at = {row: (rank, score) for rank, (row, score) in enumerate(rankings.dense, start=1)}
    lexical_at = {row: (rank, score) for rank, (row, score) in enumerate(rankings.lexical, start=1)}
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
