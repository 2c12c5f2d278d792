"""Typed span extraction from the best sentences.

Candidates are the named entities and noun chunks found at index time, plus coordinated runs of
them ("Armenia, Belarus, and Tajikistan") for questions that ask for several items. A candidate
wins by matching the expected answer type, standing close to the question's words in the sentence,
and not repeating what the question already says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cstoqa.analysis import Word, words
from cstoqa.answer.calibration import FeatureRow, coefficients
from cstoqa.answer.question_type import AnswerType, type_match
from cstoqa.answer.sentence_scoring import DEMONSTRATIVES, ScoredSentence
from cstoqa.types import Sentence, Span

_COORDINATION = re.compile(r"^\s*(,\s*(and|or)?|and|or|&)\s*$")
SENTENCES_CONSIDERED = 8
NEIGHBOURHOOD = 3


@dataclass(frozen=True)
class SpanFeatures(FeatureRow):
    """What makes a candidate span the answer; the weights are fitted (see calibration.py)."""

    sentence_gap: float
    typed: float
    proximity: float
    repeated: float
    list_for_plural: float
    extra_words: float
    entity: float
    question_words_before: float
    question_words_after: float


@dataclass(frozen=True)
class SpanChoice:
    """A chosen span; ``evidence_start`` is where its cited evidence starts (earlier for an antecedent)."""

    sentence: ScoredSentence
    start: int
    end: int
    label: str
    features: SpanFeatures
    score: float
    evidence_start: int

    @property
    def proximity(self) -> float:
        return self.features.proximity


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


def _near(span_start: int, span_end: int, sentence_words: list[Word], question_stems: set[str]) -> tuple[float, float]:
    """Share of the question's words among the few content words just before / just after the span.

    "six member states, namely Armenia, …" beats "two observer states – Afghanistan …" for a question
    about member states because more of the question stands next to it.
    """
    before = [w for w in sentence_words if w.end <= span_start][-NEIGHBOURHOOD:]
    after = [w for w in sentence_words if w.start >= span_end][:NEIGHBOURHOOD]
    total = max(len(question_stems), 1)
    return (
        len({w.stem for w in before} & question_stems) / total,
        len({w.stem for w in after} & question_stems) / total,
    )


def _repeated(text: str, span_words: list[Word], offset: int, question_stems: set[str]) -> float:
    """Share of the span's words the question already holds; a spelled-out acronym of the question counts whole.

    "the Collective Security Treaty Organization" repeats a question about the "CSTO".
    """
    capitals = [w for w in span_words if text[w.start - offset].isupper()]
    initials = "".join(text[w.start - offset] for w in capitals).lower()
    if len(capitals) >= 2 and len(capitals) == len(span_words) and initials in question_stems:
        return 1.0
    return sum(1 for w in span_words if w.stem in question_stems) / len(span_words)


def _antecedent(sentence_id: int, sentences: list[Sentence]) -> tuple[Span, Span] | None:
    """A demonstrative noun phrase of the sentence ("This council serves as …") and the span it points back to.

    The antecedent is the last span of the previous sentence (same section) with the same head word,
    "the Collective Security Council"; the pair is (anaphor, antecedent).
    """
    if sentence_id == 0:
        return None
    sentence = sentences[sentence_id]
    previous = sentences[sentence_id - 1]
    if previous.doc_id != sentence.doc_id or previous.section != sentence.section:
        return None
    for anaphor in sentence.spans:
        text = sentence.text[anaphor.start - sentence.start : anaphor.end - sentence.start].split()
        head = words(text[-1])
        if anaphor.label != "NP" or len(text) < 2 or text[0].lower() not in DEMONSTRATIVES or not head:
            continue
        matches = [
            s
            for s in previous.spans
            if s.start >= previous.start
            and s.end <= previous.end
            and (tail := words(previous.text[s.start - previous.start : s.end - previous.start]))
            and tail[-1].stem == head[0].stem
        ]
        if matches:
            return anaphor, max(matches, key=lambda s: (s.end, s.label != "NP", s.end - s.start))
    return None


def span_candidates(
    ranked: list[ScoredSentence], sentences: list[Sentence], question_stems: set[str], kind: AnswerType, plural: bool
) -> list[SpanChoice]:
    """Every candidate span of the best sentences with its features and fitted score.

    A demonstrative noun phrase ("This council") is replaced by the span it refers to in the sentence
    before, scored where the demonstrative stands; the evidence then quotes both sentences.
    """
    if kind is AnswerType.DESCRIPTION or not ranked:
        return []
    weights = coefficients()["span_weights"]
    top_score = ranked[0].score
    out = []
    for scored in ranked[:SENTENCES_CONSIDERED]:
        sentence = scored.sentence
        spans = [s for s in sentence.spans if s.start >= sentence.start and s.end <= sentence.end]
        singles = {(s.start, s.end) for s in spans}
        located = [(span, span, sentence) for span in spans + _coordinations(spans, sentence.text, sentence.start)]
        resolved = _antecedent(scored.sentence_id, sentences)
        if resolved is not None:
            anaphor, antecedent = resolved
            located = [c for c in located if c[0] != anaphor]
            located.append((antecedent, anaphor, sentences[scored.sentence_id - 1]))
            singles.add((antecedent.start, antecedent.end))
        for span, position, source in located:
            text = source.text[span.start - source.start : span.end - source.start]
            span_words = words(text, span.start)
            if not span_words:
                continue
            repeated = _repeated(text, span_words, span.start, question_stems)
            if repeated == 1.0:
                continue
            before, after = _near(position.start, position.end, scored.words, question_stems)
            features = SpanFeatures(
                sentence_gap=scored.score - top_score,
                typed=type_match(span, text, kind),
                proximity=_proximity(position.start, position.end, scored.words, question_stems),
                repeated=repeated,
                list_for_plural=float(plural and (span.start, span.end) not in singles),
                extra_words=float(max(0, len(text.split()) - 4)),
                entity=float(span.label != "NP"),
                question_words_before=before,
                question_words_after=after,
            )
            score = weights["bias"] + sum(
                weights[name] * value for name, value in zip(SpanFeatures.names(), features.vector(), strict=True)
            )
            out.append(SpanChoice(scored, span.start, span.end, span.label, features, score, source.start))
    return out


def choose_span(
    ranked: list[ScoredSentence],
    sentences: list[Sentence],
    question_stems: set[str],
    kind: AnswerType,
    plural: bool,
    typed_only: bool = False,
) -> SpanChoice | None:
    """The best-scoring candidate.

    With ``typed_only`` only candidates whose label answers the type compete, and a weak label match only
    when no full one exists. A question asking for several items gets the whole coordinated run
    ("Afghanistan and Serbia") that contains the best single item.
    """
    candidates = span_candidates(ranked, sentences, question_stems, kind, plural)
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
