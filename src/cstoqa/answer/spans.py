"""Typed span extraction from the best sentences.

Candidates are the named entities and noun chunks found at index time, plus coordinated runs of
them ("Armenia, Belarus, and Tajikistan") for questions that ask for several items. A candidate
wins by matching the expected answer type, standing close to the question's words in the sentence,
and not repeating what the question already says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cstoqa.answer.analysis import Word, words
from cstoqa.answer.question_type import LABELS, AnswerType
from cstoqa.answer.sentence_scoring import ScoredSentence
from cstoqa.types import Span

_COORDINATION = re.compile(r"^\s*(,\s*(and|or)?|and|or|&)\s*$")
_YEAR = re.compile(r"^(1[0-9]|20)\d\d$")
SENTENCES_CONSIDERED = 3

TYPE_WEIGHT = 1.0
PROXIMITY_WEIGHT = 0.8
QUESTION_OVERLAP_WEIGHT = 1.5
LIST_WEIGHT = 0.4
LENGTH_PENALTY = 0.03


@dataclass(frozen=True)
class SpanChoice:
    sentence: ScoredSentence
    start: int
    end: int
    label: str
    typed: bool
    proximity: float
    score: float


def _label_ok(span: Span, text: str, kind: AnswerType) -> bool:
    if kind is AnswerType.DATE and span.label == "CARDINAL":
        return bool(_YEAR.match(text))
    return span.label in LABELS[kind]


def _coordinations(spans: list[Span], sentence_text: str, offset: int) -> list[Span]:
    """Runs of two or more spans joined by commas and/or "and" become one list span."""
    ordered = sorted({(s.start, s.end): s for s in spans}.values(), key=lambda s: (s.start, -s.end))
    firsts: list[Span] = []
    for span in ordered:
        if firsts and span.start < firsts[-1].end:
            continue
        firsts.append(span)
    runs: list[Span] = []
    i = 0
    while i < len(firsts):
        j = i
        while j + 1 < len(firsts):
            gap = sentence_text[firsts[j].end - offset : firsts[j + 1].start - offset]
            if not _COORDINATION.match(gap) or (firsts[j + 1].label == "NP") != (firsts[i].label == "NP"):
                break
            j += 1
        if j > i:
            runs.append(Span(start=firsts[i].start, end=firsts[j].end, label=firsts[i].label))
        i = j + 1
    return runs


def _proximity(span_start: int, span_end: int, sentence_words: list[Word], question_stems: set[str]) -> float:
    """1 when a question word is next to the span, falling with the number of words in between."""
    positions = [i for i, w in enumerate(sentence_words) if w.stem in question_stems]
    inside = [i for i, w in enumerate(sentence_words) if span_start <= w.start < span_end]
    if not positions:
        return 0.0
    if not inside:
        before = sum(1 for w in sentence_words if w.end <= span_start)
        inside = [before]
    gap = min(abs(p - q) for p in positions for q in inside if p not in inside) if set(positions) - set(inside) else 0
    return 1.0 / (1.0 + max(gap - 1, 0) / 2.0)


def choose_span(
    ranked: list[ScoredSentence], question_stems: set[str], kind: AnswerType, plural: bool
) -> SpanChoice | None:
    if kind is AnswerType.DESCRIPTION or not ranked:
        return None
    best: SpanChoice | None = None
    top_score = ranked[0].score
    for scored in ranked[:SENTENCES_CONSIDERED]:
        sentence = scored.sentence
        spans = [s for s in sentence.spans if s.start >= sentence.start and s.end <= sentence.end]
        singles = {(s.start, s.end) for s in spans}
        for span in spans + _coordinations(spans, sentence.text, sentence.start):
            text = sentence.text[span.start - sentence.start : span.end - sentence.start]
            span_words = words(text, span.start)
            if not span_words:
                continue
            repeated = sum(1 for w in span_words if w.stem in question_stems) / len(span_words)
            if repeated == 1.0:
                continue
            typed = _label_ok(span, text, kind)
            is_list = (span.start, span.end) not in singles
            proximity = _proximity(span.start, span.end, scored.words, question_stems)
            score = (
                (scored.score - top_score)
                + TYPE_WEIGHT * typed
                + PROXIMITY_WEIGHT * proximity
                - QUESTION_OVERLAP_WEIGHT * repeated
                + LIST_WEIGHT * (is_list and plural)
                - LENGTH_PENALTY * max(0, len(text.split()) - 6)
            )
            if best is None or score > best.score:
                best = SpanChoice(scored, span.start, span.end, span.label, typed, proximity, score)
    return best
