"""Confidence as a calibrated probability that the reader's span is right, not a raw logit margin.

A logistic regression over what the reader and the retriever say about the best span, fitted by
``python -m cstoqa.evaluation.calibrate`` on SQuAD articles held out of the reader's training (never on
the questions it is judged by). Its weights live in ``confidence.json`` beside this file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel

from cstoqa.analysis import normalize_answer
from cstoqa.types import ReadSpan

COEFFICIENTS = Path(__file__).with_name("confidence.json")
FEATURES = ("margin", "score", "null_score", "support", "reciprocal_rank")


class ConfidenceModel(BaseModel):
    features: list[str]
    weights: list[float]
    bias: float
    fitted_on: dict[str, object] = {}


def features(best: ReadSpan, spans: Sequence[ReadSpan]) -> list[float]:
    """The best span's margin and logits; how many other passages agree on its text; its passage's rank.

    Agreement matters because a fact stated in two retrieved passages is likelier to be the answer; rank,
    because the retriever's first passage is the likeliest home of an answer (Clark and Gardner 2018)."""
    text = normalize_answer(best.text)
    support = sum(1 for s in spans if s is not best and s.margin > 0 and normalize_answer(s.text) == text)
    return [best.margin, best.score, best.null_score, float(support), 1.0 / (1 + best.passage)]


@lru_cache(maxsize=1)
def shipped() -> ConfidenceModel:
    return ConfidenceModel.model_validate_json(COEFFICIENTS.read_text(encoding="utf-8"))


def probability(values: Sequence[float], model: ConfidenceModel | None = None) -> float:
    model = model or shipped()
    z = model.bias + sum(w * v for w, v in zip(model.weights, values, strict=True))
    return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))
