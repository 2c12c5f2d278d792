"""Answer metrics with the official SQuAD v2.0 normalisation (lower case, no punctuation, articles or extra spaces)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from cstoqa.analysis import normalize_answer

__all__ = ["contains_answer", "exact_match", "f1_score", "first_hit_rank", "mean", "normalize_answer", "percentile"]


def exact_match(prediction: str | None, golds: Sequence[str]) -> float:
    """Unanswerable (no gold): 1 for an abstention (None), else 0."""
    if not golds:
        return float(prediction is None)
    if prediction is None:
        return 0.0
    return max(float(normalize_answer(prediction) == normalize_answer(g)) for g in golds)


def _f1(prediction: str, gold: str) -> float:
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str | None, golds: Sequence[str]) -> float:
    if not golds:
        return float(prediction is None)
    if prediction is None:
        return 0.0
    return max(_f1(prediction, g) for g in golds)


def contains_answer(text: str | None, golds: Sequence[str]) -> bool:
    """Does the (normalised) text contain a (normalised) gold answer?"""
    if text is None or not golds:
        return False
    haystack = f" {normalize_answer(text)} "
    return any(f" {normalize_answer(g)} " in haystack for g in golds if normalize_answer(g))


def first_hit_rank(passages: Sequence[str], golds: Sequence[str]) -> int | None:
    return next((i for i, text in enumerate(passages, start=1) if contains_answer(text, golds)), None)


def mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else 0.0
