"""Ask every question of a dataset, score the answers and two baselines in the same run."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from pydantic import BaseModel
from tqdm import tqdm

from cstoqa.answer.answerer import withhold
from cstoqa.assistant import Assistant
from cstoqa.evaluation.datasets import EvalItem
from cstoqa.evaluation.metrics import contains_answer, first_hit_rank, mean, percentile, retrieval_scores
from cstoqa.squad import exact_match, f1_score
from cstoqa.types import Answer, Citation


class Prediction(BaseModel):
    id: str
    question: str
    kind: str
    group: str | None = None
    gold: list[str]
    answer: str | None
    abstained: bool
    confidence: float
    answer_kind: str
    citations: list[Citation]
    would_answer: str | None
    hit_rank: int | None
    latency_ms: float
    offsets_ok: bool
    dense_sentence_baseline: str


def dense_sentence_baseline(assistant: Assistant, question: str) -> str:
    """The best sentence (by cosine) of the top dense passage: what a plain embedding search would show."""
    data = assistant.data
    vector = assistant.embedder.encode([question])[0]
    hits = data.searcher.chunks_by_vector(vector, 1)
    if not hits:
        return ""
    ids = data.chunks[hits[0][0]].sentence_ids
    best = ids[int(np.argmax(data.sentence_vectors[ids] @ vector))]
    return data.sentences[best].text


def offsets_ok(assistant: Assistant, answer: Answer) -> bool:
    """Every quote is its document's text at its offsets, and a span answer lies inside its quote."""
    docs = assistant.data.documents
    for c in answer.citations:
        doc = docs.get(c.doc_id)
        if doc is None or doc.text[c.start : c.end] != c.quote:
            return False
        if c.answer_start is not None and c.answer_end is not None:
            inside = c.start <= c.answer_start < c.answer_end <= c.end
            if not inside or (c is answer.citations[0] and doc.text[c.answer_start : c.answer_end] != answer.text):
                return False
    return True


def run(assistant: Assistant, items: list[EvalItem], threshold: float | None = None) -> list[Prediction]:
    """Answers are computed at threshold 0 and withheld here, so the full risk–coverage curve is known."""
    threshold = assistant.settings.abstain_threshold if threshold is None else threshold
    predictions = []
    for item in tqdm(items, desc="evaluating", unit="q", disable=None):
        started = time.perf_counter()
        raw = assistant.ask(item.question, threshold=0.0)
        latency = (time.perf_counter() - started) * 1000
        answer = withhold(raw, threshold)
        predictions.append(
            Prediction(
                id=item.id,
                question=item.question,
                kind=item.kind,
                group=item.group,
                gold=item.answers,
                answer=answer.text,
                abstained=answer.abstained,
                confidence=answer.confidence,
                answer_kind=answer.kind,
                citations=answer.citations,
                would_answer=raw.text,
                hit_rank=first_hit_rank([p.text for p in raw.passages], item.answers),
                latency_ms=round(latency, 2),
                offsets_ok=offsets_ok(assistant, raw),
                dense_sentence_baseline=dense_sentence_baseline(assistant, item.question),
            )
        )
    return predictions


def _answer_scores(answers: list[str | None], golds: list[list[str]]) -> dict[str, float]:
    return {
        "exact_match": mean([exact_match(a, g) for a, g in zip(answers, golds, strict=True)]),
        "f1": mean([f1_score(a, g) for a, g in zip(answers, golds, strict=True)]),
    }


def _kind_scores(answers: list[str | None], preds: list[Prediction]) -> dict[str, float]:
    return {
        "f1": mean([f1_score(a, p.gold) for a, p in zip(answers, preds, strict=True)]),
        "answer_recall": mean([contains_answer(a, p.gold) for a, p in zip(answers, preds, strict=True)]),
    }


def _split(answers: list[str | None], preds: list[Prediction]) -> dict[str, Any]:
    answerable = [i for i, p in enumerate(preds) if p.gold]
    unanswerable = [i for i, p in enumerate(preds) if not p.gold]

    def pick(idx: list[int]) -> tuple[list[str | None], list[list[str]]]:
        return [answers[i] for i in idx], [preds[i].gold for i in idx]

    return {
        "overall": _answer_scores(answers, [p.gold for p in preds]),
        "answerable": {
            **_answer_scores(*pick(answerable)),
            "answer_recall": mean([contains_answer(answers[i], preds[i].gold) for i in answerable]),
        },
        "unanswerable": {"abstained": mean([answers[i] is None for i in unanswerable])},
    }


MAX_GROUPS = 10


def summarize(preds: list[Prediction], threshold: float) -> dict[str, Any]:
    """Every figure of the run; a set of a few named groups (old and new questions) is also scored per group."""
    metrics = _summarize(preds, threshold)
    groups = sorted({p.group for p in preds if p.group})
    if 1 < len(groups) <= MAX_GROUPS:
        metrics["by_group"] = {g: _summarize([p for p in preds if p.group == g], threshold) for g in groups}
    return metrics


def _summarize(preds: list[Prediction], threshold: float) -> dict[str, Any]:
    answerable = [p for p in preds if p.gold]
    unanswerable = [p for p in preds if not p.gold]
    answered_answerable = [p for p in answerable if not p.abstained]
    abstained = [p for p in preds if p.abstained]
    ranks = [p.hit_rank for p in answerable]
    metrics: dict[str, Any] = {
        "counts": {"questions": len(preds), "answerable": len(answerable), "unanswerable": len(unanswerable)},
        "threshold": threshold,
        **_split([p.answer for p in preds], preds),
        "answerable_every_question_answered": {
            **_answer_scores([p.would_answer for p in answerable], [p.gold for p in answerable]),
            "answer_recall": mean([contains_answer(p.would_answer, p.gold) for p in answerable]),
        },
        "by_kind": {
            kind: {
                "count": len(group),
                **_kind_scores([p.answer for p in group], group),
                "every_question_answered": _kind_scores([p.would_answer for p in group], group),
            }
            for kind in sorted({p.kind for p in answerable})
            for group in [[p for p in answerable if p.kind == kind]]
        },
        "retrieval": retrieval_scores(ranks),
        "citation_accuracy": mean(
            [bool(p.citations) and contains_answer(p.citations[0].quote, p.gold) for p in answered_answerable]
        ),
        "offsets_valid": mean([p.offsets_ok for p in preds]),
        "abstention": {
            "precision": mean([not p.gold for p in abstained]) if abstained else 1.0,
            "recall": mean([p.abstained for p in unanswerable]),
            "false_abstention_rate": mean([p.abstained for p in answerable]),
        },
        "latency_ms": {
            "p50": percentile([p.latency_ms for p in preds], 50),
            "p95": percentile([p.latency_ms for p in preds], 95),
        },
        "baselines": {
            "always_abstain": _split([None] * len(preds), preds),
            "dense_best_sentence": _split([p.dense_sentence_baseline for p in preds], preds),
        },
    }
    return metrics


def risk_coverage(preds: list[Prediction]) -> list[tuple[float, float, float]]:
    """(threshold, coverage, risk) for each distinct confidence: risk is 1 − mean F1 of what is answered."""
    order = sorted(preds, key=lambda p: -p.confidence)
    points, total = [], 0.0
    for n, p in enumerate(order, start=1):
        total += f1_score(p.would_answer, p.gold)
        points.append((p.confidence, n / len(order), 1.0 - total / n))
    return points
