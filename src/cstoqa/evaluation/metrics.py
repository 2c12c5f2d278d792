"""Retrieval and answer-presence metrics; EM and F1 are in ``cstoqa.squad``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cstoqa.analysis import normalize_answer


def contains_answer(text: str | None, golds: Sequence[str]) -> bool:
    """Does the (normalised) text contain a (normalised) gold answer?"""
    if text is None or not golds:
        return False
    haystack = f" {normalize_answer(text)} "
    return any(f" {normalize_answer(g)} " in haystack for g in golds if normalize_answer(g))


def first_hit_rank(passages: Sequence[str], golds: Sequence[str]) -> int | None:
    return next((i for i, text in enumerate(passages, start=1) if contains_answer(text, golds)), None)


def retrieval_scores(ranks: Sequence[int | None]) -> dict[str, float]:
    """hit@1/3/5 and MRR from each question's first-hit rank (None or 0: no hit among the passages)."""
    return {
        **{f"hit@{k}": mean([r is not None and 0 < r <= k for r in ranks]) for k in (1, 3, 5)},
        "mrr": mean([1.0 / r if r else 0.0 for r in ranks]),
    }


def mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else 0.0
