"""Assemble the answer: a typed short span or the best sentences, each cited, or an abstention."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cstoqa.analysis import Word, words
from cstoqa.answer.calibration import Features, coefficients, confidence
from cstoqa.answer.question_type import AnswerType, answer_type, is_plural_ask
from cstoqa.answer.sentence_scoring import UNKNOWN_IDF, ScoredSentence, antecedent_sentence, idf, score_sentences
from cstoqa.answer.spans import SpanChoice, choose_span
from cstoqa.chunking import embedding_text
from cstoqa.index.store import IndexData
from cstoqa.ingest.structure import list_marker_end
from cstoqa.settings import Settings
from cstoqa.types import Answer, Citation, Passage

NOT_IN_SOURCES = "The sources don't say."
MAX_SENTENCES = 3
MAX_LIST_ITEMS = 10
SENTENCE_MARGIN = 0.12
NEAR_DUPLICATE = 0.8
SPECIFIC_TYPES = {AnswerType.DATE, AnswerType.NUMBER, AnswerType.PERSON, AnswerType.PLACE, AnswerType.ORGANIZATION}


def abstention(question: str, message: str, passages: list[Passage], confidence: float = 0.0) -> Answer:
    return Answer(
        question=question,
        text=None,
        abstained=True,
        confidence=confidence,
        passages=passages,
        kind="abstain",
        message=message,
    )


def _evidence_start(data: IndexData, sentence_id: int) -> int:
    """A sentence opening with "This …", "It …" or "They …" is quoted with the sentence it refers back to."""
    referent = antecedent_sentence(data, sentence_id)
    return referent.start if referent is not None else data.sentences[sentence_id].start


def _list_items(data: IndexData, sentence_id: int) -> list[int]:
    """For a sentence ending in a colon, the first sentence of each list item that follows it.

    "Key aspects … include:" says nothing by itself; its answer is the list ("1. Legal Framework: …").
    """
    sentence = data.sentences[sentence_id]
    if not sentence.text.endswith(":"):
        return []
    doc = data.documents[sentence.doc_id]
    following = sorted(p for section in doc.sections for p in section.paragraphs if p[0] >= sentence.end)
    items: list[int] = []
    sid = sentence_id + 1
    for start, end in following[:MAX_LIST_ITEMS]:
        if list_marker_end(doc.text, start, end) is None:
            break
        while (
            sid < len(data.sentences) and data.sentences[sid].doc_id == doc.doc_id and data.sentences[sid].end <= start
        ):
            sid += 1
        if sid == len(data.sentences) or data.sentences[sid].doc_id != doc.doc_id or data.sentences[sid].start >= end:
            break
        items.append(sid)
    return items


def _citation(data: IndexData, sentence_id: int, span: SpanChoice | None = None) -> Citation:
    sentence = data.sentences[sentence_id]
    doc = data.documents[sentence.doc_id]
    start = _evidence_start(data, sentence_id)
    if span is not None:
        start = min(start, span.evidence_start)
    return Citation(
        doc_id=doc.doc_id,
        title=doc.title,
        section=sentence.section,
        start=start,
        end=sentence.end,
        quote=doc.text[start : sentence.end],
        answer_start=span.start if span else None,
        answer_end=span.end if span else None,
    )


def _supporting(ranked: list[ScoredSentence], limit: int) -> list[ScoredSentence]:
    """The best sentence and close runners-up, skipping near-duplicates (overlapping chunks repeat text)."""
    chosen = [ranked[0]]
    for candidate in ranked[1:]:
        if len(chosen) >= limit or candidate.score < ranked[0].score - SENTENCE_MARGIN:
            break
        stems = {w.stem for w in candidate.words}
        if all(len(stems & {w.stem for w in c.words}) / max(len(stems), 1) < NEAR_DUPLICATE for c in chosen):
            chosen.append(candidate)
    return chosen


def _names_missing(question: str, question_words: list[Word], context_stems: set[str]) -> float:
    """Share of the question's names and numbers (capitalised past its first word, or digits) the evidence lacks.

    A false premise usually swaps one of these: "When did the Romans …" asked of a passage on the Normans.
    """
    names = [w for w in question_words if w.start > 0 and (question[w.start].isupper() or question[w.start].isdigit())]
    return sum(1 for w in names if w.stem not in context_stems) / len(names) if names else 0.0


def _unknown_share(question_stems: set[str], data: IndexData) -> float:
    total = sum(idf(data, s) for s in question_stems)
    return sum(idf(data, s) for s in question_stems if s not in data.idf) / total if total else 1.0


@dataclass(frozen=True)
class Decision:
    """Everything the answerer worked out before applying the threshold (the calibration fits on this)."""

    kind: AnswerType
    plural: bool
    ranked: list[ScoredSentence]
    span: SpanChoice | None
    features: Features
    confidence: float


def decide(question: str, query_vector: np.ndarray, passages: list[Passage], data: IndexData) -> Decision | None:
    question_words = words(question)
    question_stems = {w.stem for w in question_words}
    kind = answer_type(question)
    ranked = score_sentences(question_words, kind, query_vector, passages, data)
    if not ranked:
        return None
    plural = is_plural_ask(question)
    span = choose_span(ranked, data.sentences, question_stems, kind, plural, typed_only=kind in SPECIFIC_TYPES)
    if span is not None and kind not in SPECIFIC_TYPES and span.score < coefficients()["span_min_score"]:
        span = None
    lead = span.sentence if span else ranked[0]
    context = next(p.chunk for p in passages if lead.sentence_id in p.chunk.sentence_ids)
    context_stems = {w.stem for w in words(embedding_text(context))}
    features = Features(
        cosine=lead.cosine,
        overlap=lead.overlap,
        passage_cosine=max((p.dense_score or 0.0) for p in passages),
        unknown_words=_unknown_share(question_stems, data),
        typed_span=float(kind in SPECIFIC_TYPES and span is not None),
        type_missing=float(kind in SPECIFIC_TYPES and span is None),
        descriptive=float(kind is AnswerType.DESCRIPTION),
        proximity=span.proximity if span else 0.0,
        span_probability=1.0 / (1.0 + math.exp(-span.score)) if span else 0.0,
        missing_word=min(1.0, max((idf(data, s) for s in question_stems - context_stems), default=0.0) / UNKNOWN_IDF),
        names_missing=_names_missing(question, question_words, context_stems),
    )
    return Decision(kind, plural, ranked, span, features, confidence(features))


def answer_question(
    question: str, query_vector: np.ndarray, passages: list[Passage], data: IndexData, settings: Settings
) -> Answer:
    decision = decide(question, query_vector, passages, data)
    if decision is None:
        return abstention(
            question, f"{NOT_IN_SOURCES} No passage in the documents matches the question.", passages[: settings.top_k]
        )
    answer = render(question, decision, data).model_copy(update={"passages": passages[: settings.top_k]})
    return withhold(answer, settings.abstain_threshold)


def withhold(answer: Answer, threshold: float) -> Answer:
    """The abstention an answer turns into when its confidence is below the threshold."""
    if answer.abstained or answer.confidence >= threshold:
        return answer
    return abstention(
        answer.question,
        f"{NOT_IN_SOURCES} The closest passages are listed, but none of them answers the question.",
        answer.passages,
        confidence=answer.confidence,
    )


def render(question: str, decision: Decision, data: IndexData) -> Answer:
    """The answer a decision stands for, before the abstention threshold is applied."""
    span = decision.span
    if span is not None:
        doc = data.documents[span.sentence.sentence.doc_id]
        return Answer(
            question=question,
            text=doc.text[span.start : span.end],
            abstained=False,
            confidence=decision.confidence,
            citations=[_citation(data, span.sentence.sentence_id, span)],
            kind="span",
        )
    limit = MAX_SENTENCES if decision.kind is AnswerType.DESCRIPTION or decision.plural else 1
    chosen = [s.sentence_id for s in _supporting(decision.ranked, limit)]
    listed = _list_items(data, chosen[0])
    cited = [_citation(data, sid) for sid in ([chosen[0], *listed] if listed else chosen)]
    citations = [
        c
        for c in cited
        if not any(o is not c and o.doc_id == c.doc_id and o.start <= c.start and c.end <= o.end for o in cited)
    ]
    text = " ".join(c.quote for c in sorted(citations, key=lambda c: (c.doc_id, c.start)))
    return Answer(
        question=question,
        text=text,
        abstained=False,
        confidence=decision.confidence,
        citations=citations,
        kind="sentences",
    )
