"""Typed span extraction from the best sentences.

Candidates are the named entities and noun chunks found at index time, plus coordinated runs of
them ("Armenia, Belarus, and Tajikistan") for questions that ask for several items. A candidate
wins by matching the expected answer type, standing close to the question's words in the sentence,
and not repeating what the question already says.
"""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass, fields

from cstoqa.analysis import Word, words
from cstoqa.answer.calibration import coefficients
from cstoqa.answer.question_type import LABELS, AnswerType
from cstoqa.answer.sentence_scoring import ScoredSentence
from cstoqa.types import Span

_COORDINATION = re.compile(r"^\s*(,\s*(and|or)?|and|or|&)\s*$")
_YEAR = re.compile(r"^(1[0-9]|20)\d\d$")
SENTENCES_CONSIDERED = 5
NEIGHBOURHOOD = 3


@dataclass(frozen=True)
class SpanFeatures:
    """What makes a candidate span the answer; the weights are fitted (see calibration.py)."""

    sentence_gap: float
    typed: float
    proximity: float
    repeated: float
    list_for_plural: float
    extra_words: float
    entity: float
    after_question_word: float
    before_question_word: float

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def vector(self) -> list[float]:
        return [float(v) for v in astuple(self)]


@dataclass(frozen=True)
class SpanChoice:
    sentence: ScoredSentence
    start: int
    end: int
    label: str
    features: SpanFeatures
    score: float

    @property
    def proximity(self) -> float:
        return self.features.proximity


def type_match(span: Span, text: str, kind: AnswerType) -> float:
    """1 for a label that answers the type, 0.5 for a weaker match, 0 otherwise; a bare year counts as a date."""
    full, weak = LABELS[kind]
    if kind is AnswerType.DATE and span.label == "CARDINAL" and _YEAR.match(text):
        return 1.0
    return 1.0 if span.label in full else 0.5 if span.label in weak else 0.0


def _coordinations(spans: list[Span], sentence_text: str, offset: int) -> list[Span]:
    """Runs of two or more spans joined by commas and/or "and" become one list span.

    Entities and noun chunks are chained separately, so a noun chunk such as "namely Armenia" cannot
    break a run of country names; an entity run keeps the first entity's label.
    """
    runs: list[Span] = []
    for group in ([s for s in spans if s.label != "NP"], [s for s in spans if s.label == "NP"]):
        items: list[Span] = []
        for span in sorted(group, key=lambda s: (s.start, -s.end)):
            if not items or span.start >= items[-1].end:
                items.append(span)
        i = 0
        while i < len(items):
            j = i
            while j + 1 < len(items) and _COORDINATION.match(
                sentence_text[items[j].end - offset : items[j + 1].start - offset]
            ):
                j += 1
            if j > i:
                runs.append(Span(start=items[i].start, end=items[j].end, label=items[i].label))
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


def _near(span_start: int, span_end: int, sentence_words: list[Word], question_stems: set[str]) -> tuple[bool, bool]:
    """Is a question word among the few content words just before / just after the span?"""
    before = [w for w in sentence_words if w.end <= span_start][-NEIGHBOURHOOD:]
    after = [w for w in sentence_words if w.start >= span_end][:NEIGHBOURHOOD]
    return any(w.stem in question_stems for w in before), any(w.stem in question_stems for w in after)


def span_candidates(
    ranked: list[ScoredSentence], question_stems: set[str], kind: AnswerType, plural: bool
) -> list[SpanChoice]:
    """Every candidate span of the best sentences with its features and fitted score."""
    if kind is AnswerType.DESCRIPTION or not ranked:
        return []
    weights = coefficients()["span_weights"]
    top_score = ranked[0].score
    out = []
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
            after, before = _near(span.start, span.end, scored.words, question_stems)
            features = SpanFeatures(
                sentence_gap=scored.score - top_score,
                typed=type_match(span, text, kind),
                proximity=_proximity(span.start, span.end, scored.words, question_stems),
                repeated=repeated,
                list_for_plural=float(plural and (span.start, span.end) not in singles),
                extra_words=float(max(0, len(text.split()) - 4)),
                entity=float(span.label != "NP"),
                after_question_word=float(after),
                before_question_word=float(before),
            )
            score = weights["bias"] + sum(
                weights[name] * value for name, value in zip(SpanFeatures.names(), features.vector(), strict=True)
            )
            out.append(SpanChoice(scored, span.start, span.end, span.label, features, score))
    return out


def choose_span(
    ranked: list[ScoredSentence], question_stems: set[str], kind: AnswerType, plural: bool, typed_only: bool = False
) -> SpanChoice | None:
    """The best-scoring candidate.

    With ``typed_only`` only candidates whose label answers the type compete, and a weak label match only
    when no full one exists. A question asking for several items gets the whole coordinated run
    ("Afghanistan and Serbia") that contains the best single item.
    """
    candidates = span_candidates(ranked, question_stems, kind, plural)
    if typed_only:
        strongest = max((c.features.typed for c in candidates), default=0.0)
        candidates = [c for c in candidates if strongest and c.features.typed == strongest]
    if not candidates:
        return None
    best = max(candidates, key=lambda c: c.score)
    if plural:
        runs = [
            c
            for c in candidates
            if c.features.list_for_plural
            and c.sentence is best.sentence
            and c.start <= best.start
            and best.end <= c.end
        ]
        best = max(runs, key=lambda c: c.end - c.start, default=best)
    return best
