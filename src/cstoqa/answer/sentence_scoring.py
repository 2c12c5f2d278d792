"""Answer-sentence selection: rank the sentences of the retrieved passages against the question.

Four signals, all cheap at question time: cosine similarity of precomputed sentence embeddings,
IDF-weighted word overlap (so rare shared words count more than common ones; a sentence opening with
"This …" or "It …" also has the words of the sentence it refers back to), the rank of the
passage the sentence came from, and whether the sentence holds a span of the expected answer type
(a "how many" question wants a sentence with a number in it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cstoqa.analysis import Word, words
from cstoqa.answer.calibration import coefficients
from cstoqa.answer.question_type import AnswerType, type_match
from cstoqa.index.store import IndexData
from cstoqa.types import Passage, Sentence

UNKNOWN_IDF = 8.0
DEMONSTRATIVES = frozenset({"this", "these", "that", "those", "such"})
ANAPHORIC_OPENINGS = DEMONSTRATIVES | {"it", "its", "they", "their"}


@dataclass(frozen=True)
class ScoredSentence:
    sentence_id: int
    sentence: Sentence
    words: list[Word]
    cosine: float
    overlap: float
    passage_rank: int
    typed: float
    score: float


def idf(data: IndexData, stem: str) -> float:
    return data.idf.get(stem, UNKNOWN_IDF)


def overlap(question_stems: set[str], sentence_stems: set[str], data: IndexData) -> float:
    """Share of the question's IDF mass that the sentence contains."""
    total = sum(idf(data, s) for s in question_stems)
    return sum(idf(data, s) for s in question_stems & sentence_stems) / total if total else 0.0


def antecedent_sentence(data: IndexData, sentence_id: int) -> Sentence | None:
    """The sentence before, in the same section, when this one opens with "This …", "It …" or "They …"."""
    sentence = data.sentences[sentence_id]
    opening = sentence.text.split(maxsplit=1)[:1]
    if sentence_id == 0 or not opening or opening[0].lower() not in ANAPHORIC_OPENINGS:
        return None
    previous = data.sentences[sentence_id - 1]
    return previous if previous.doc_id == sentence.doc_id and previous.section == sentence.section else None


def typed(sentence: Sentence, kind: AnswerType) -> float:
    """How well the sentence's best span matches the expected answer type (see ``type_match``)."""
    if kind is AnswerType.DESCRIPTION:
        return 0.0
    return max(
        (type_match(s, sentence.text[s.start - sentence.start : s.end - sentence.start], kind) for s in sentence.spans),
        default=0.0,
    )


def score_sentences(
    question_words: list[Word],
    kind: AnswerType,
    query_vector: np.ndarray,
    passages: list[Passage],
    data: IndexData,
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
        stems = {w.stem for w in sentence_words}
        referent = antecedent_sentence(data, sid)
        if referent is not None:
            stems |= {w.stem for w in words(referent.text)}
        lexical = overlap(q_stems, stems, data)
        rank = best_rank[sid]
        type_score = typed(sentence, kind)
        score = (
            weights["cosine"] * cosine
            + weights["overlap"] * lexical
            + weights["inverse_rank"] / rank
            + weights["typed"] * type_score
        )
        scored.append(ScoredSentence(sid, sentence, sentence_words, cosine, lexical, rank, type_score, score))
    scored.sort(key=lambda s: (-s.score, s.sentence_id))
    return scored
