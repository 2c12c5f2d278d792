"""Confidence as a calibrated probability that the answer is right, not a raw cosine.

A logistic regression over a handful of answer features, fitted offline by
``python -m cstoqa.evaluation.calibrate`` on SQuAD 2.0 development questions (see README, "Calibration").
Its coefficients and the abstention threshold it chose live in ``calibration.json`` beside this file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

COEFFICIENTS = Path(__file__).with_name("calibration.json")


class FeatureRow:
    """A dataclass of float features whose field order is the order of its fitted weights."""

    @classmethod
    @cache
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]  # type: ignore[arg-type]

    def vector(self) -> list[float]:
        return [float(getattr(self, name)) for name in self.names()]


@dataclass(frozen=True)
class Features(FeatureRow):
    cosine: float
    overlap: float
    passage_cosine: float
    unknown_words: float
    typed_span: float
    type_missing: float
    descriptive: float
    proximity: float
    span_probability: float
    missing_word: float
    names_missing: float


@lru_cache(maxsize=1)
def coefficients() -> dict[str, Any]:
    return json.loads(COEFFICIENTS.read_text(encoding="utf-8"))


def confidence(features: Features, model: dict[str, Any] | None = None) -> float:
    model = model or coefficients()
    weights = model["weights"]
    z = model["bias"] + sum(
        weights[name] * value for name, value in zip(Features.names(), features.vector(), strict=True)
    )
    return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))
