"""SQuAD v2.0: its file format, and its exact-match and F1 with the official answer normalisation.

At the bottom of the stack because the reader's training, its gold-paragraph score and the evaluation all use it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from cstoqa.analysis import normalize_answer


class Example(BaseModel):
    id: str
    article: int
    question: str
    context: str
    answers: list[str]
    answer_start: int | None = None
    answer_text: str | None = None


def load_examples(path: Path) -> tuple[list[Example], list[list[str]]]:
    """Questions with their paragraph, and each article's paragraphs (for hard negatives)."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    examples, paragraphs = [], []
    for a, article in enumerate(data):
        paragraphs.append([p["context"] for p in article["paragraphs"]])
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                golds = [] if qa.get("is_impossible") else qa["answers"]
                examples.append(
                    Example(
                        id=qa["id"],
                        article=a,
                        question=qa["question"],
                        context=paragraph["context"],
                        answers=sorted({g["text"] for g in golds}),
                        answer_start=golds[0]["answer_start"] if golds else None,
                        answer_text=golds[0]["text"] if golds else None,
                    )
                )
    return examples, paragraphs


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
