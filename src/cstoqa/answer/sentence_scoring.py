"""Answer-sentence selection: rank the sentences of the retrieved passages against the question.

Three signals, all cheap at question time: cosine similarity of precomputed sentence embeddings,
IDF-weighted word overlap (so rare shared words count more than common ones), and the rank of the
passage the sentence came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cstoqa.analysis import Word, words
from cstoqa.answer.calibration import coefficients
from cstoqa.index.store import IndexData
from cstoqa.types import Passage, Sentence

UNKNOWN_IDF = 8.0


@dataclass(frozen=True)
class ScoredSentence:
    sentence_id: int
    sentence: Sentence
    words: list[Word]
    cosine: float
    overlap: float
    passage_rank: int
    score: float


def idf(data: IndexData, stem: str) -> float:
    return data.idf.get(stem, UNKNOWN_IDF)


def overlap(question_stems: set[str], sentence_stems: set[str], data: IndexData) -> float:
    """Share of the question's IDF mass that the sentence contains."""
    total = sum(idf(data, s) for s in question_stems)
    return sum(idf(data, s) for s in question_stems & sentence_stems) / total if total else 0.0


def score_sentences(
    question_words: list[Word], query_vector: np.ndarray, passages: list[Passage], data: IndexData
) -> list[ScoredSentence]:
    """All sentences of the passages, best first; a sentence shared by two passages counts once, at its best rank."""
    best_rank: dict[int, int] = {}
    for rank, passage in enumerate(passages, start=1):
        for sid in passage.chunk.sentence_ids:
            best_rank.setdefault(sid, rank)
    if not best_rank:
        return []
    ids = list(best_rank)
    cosines = data.sentence_vectors[ids] @ query_vector.astype(np.float32)
    q_stems = {w.stem for w in question_words}
    weights = coefficients()["sentence_weights"]
    scored = []
    for sid, cosine in zip(ids, cosines.tolist(), strict=True):
        sentence = data.sentences[sid]
        sentence_words = words(sentence.text, sentence.start)
        lexical = overlap(q_stems, {w.stem for w in sentence_words}, data)
        rank = best_rank[sid]
        score = weights["cosine"] * cosine + weights["overlap"] * lexical + weights["inverse_rank"] / rank
        scored.append(ScoredSentence(sid, sentence, sentence_words, cosine, lexical, rank, score))
    scored.sort(key=lambda s: (-s.score, s.sentence_id))
    return scored
