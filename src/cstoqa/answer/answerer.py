"""Assemble the answer: the reader's best span, cited with the sentence(s) holding it, or an abstention."""

from __future__ import annotations

from collections.abc import Sequence

from cstoqa.answer.confidence import ConfidenceModel, features, probability
from cstoqa.index.store import IndexData
from cstoqa.types import Answer, Citation, Passage, ReadSpan

NOT_IN_SOURCES = "The sources don't say."


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


def cite(data: IndexData, passage: Passage, span: ReadSpan) -> Citation:
    """The passage's sentences that the span touches, quoted whole, with the span's own offsets inside."""
    touched = [
        data.sentences[i]
        for i in passage.chunk.sentence_ids
        if data.sentences[i].start < span.end and span.start < data.sentences[i].end
    ]
    start = min([span.start, *(s.start for s in touched)])
    end = max([span.end, *(s.end for s in touched)])
    doc = data.documents[span.doc_id]
    return Citation(
        doc_id=doc.doc_id,
        title=doc.title,
        section=passage.section,
        start=start,
        end=end,
        quote=doc.text[start:end],
        answer_start=span.start,
        answer_end=span.end,
    )


def answer_question(
    question: str,
    passages: list[Passage],
    spans: Sequence[ReadSpan],
    data: IndexData,
    shown: int,
    threshold: float,
    model: ConfidenceModel | None = None,
) -> Answer:
    """``passages`` are those the reader read (best first); ``shown`` of them go with the answer."""
    if not spans:
        return abstention(
            question, f"{NOT_IN_SOURCES} No passage in the documents matches the question.", passages[:shown]
        )
    best = max(spans, key=lambda s: s.margin)
    answer = Answer(
        question=question,
        text=best.text,
        abstained=False,
        confidence=probability(features(best, spans), model),
        citations=[cite(data, passages[best.passage], best)],
        passages=passages[:shown],
        kind="span",
    )
    return withhold(answer, threshold)


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
