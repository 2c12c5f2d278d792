"""Fit the answerer's sentence weights, confidence model and abstention threshold on SQuAD 2.0 questions.

Run: ``python -m cstoqa.evaluation.calibrate ../shared/squad2/dev_public.json``. All paragraphs are indexed
as one corpus; the questions of every other article (sorted by title) are the fitting set, the rest are
held out and only reported. Writes ``src/cstoqa/answer/calibration.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from cstoqa.answer import calibration
from cstoqa.answer.analysis import words
from cstoqa.answer.answerer import decide
from cstoqa.answer.calibration import COEFFICIENTS, Features
from cstoqa.answer.sentence_scoring import score_sentences
from cstoqa.assistant import Assistant
from cstoqa.evaluation import runner
from cstoqa.evaluation.datasets import EvalItem, load_squad
from cstoqa.evaluation.metrics import contains_answer, f1_score
from cstoqa.retrieval import retrieve

CORRECT_F1 = 0.5


def _logistic(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=1000, class_weight=None).fit(x, y)
    return float(model.intercept_[0]), model.coef_[0]


def _retrieve(assistant: Assistant, item: EvalItem) -> tuple[np.ndarray, list[Any]]:
    vector = assistant.embedder.encode([item.question])[0]
    settings = assistant.settings
    return vector, retrieve(
        assistant.data, item.question, vector, settings, max(settings.top_k, settings.reader_passages)
    )


def fit_sentence_weights(assistant: Assistant, items: list[EvalItem]) -> dict[str, float]:
    """Logistic regression of "this candidate sentence contains a gold answer", scaled to cosine weight 1."""
    rows, labels = [], []
    for item in items:
        if not item.answers:
            continue
        vector, passages = _retrieve(assistant, item)
        for s in score_sentences(words(item.question), vector, passages, assistant.data):
            rows.append([s.cosine, s.overlap, 1.0 / s.passage_rank])
            labels.append(contains_answer(s.sentence.text, item.answers))
    _, coef = _logistic(np.array(rows), np.array(labels))
    return {"cosine": 1.0, "overlap": float(coef[1] / coef[0]), "inverse_rank": float(coef[2] / coef[0])}


def collect(assistant: Assistant, items: list[EvalItem]) -> tuple[np.ndarray, np.ndarray]:
    """Features of each question's would-be answer, and whether that answer is right (F1 ≥ 0.5)."""
    rows, labels = [], []
    for item in items:
        vector, passages = _retrieve(assistant, item)
        decision = decide(item.question, vector, passages, assistant.data)
        if decision is None:
            continue
        answer = assistant.ask(item.question).text
        rows.append(decision.features.vector())
        labels.append(bool(item.answers) and f1_score(answer, item.answers) >= CORRECT_F1)
    return np.array(rows), np.array(labels)


def best_threshold(preds: list[runner.Prediction]) -> float:
    """The confidence cut that maximises overall F1 (abstaining scores 1 on unanswerable questions)."""
    best, best_score = 0.5, -1.0
    for t in np.linspace(0.05, 0.95, 91):
        score = np.mean([f1_score(p.would_answer if p.confidence >= t else None, p.gold) for p in preds])
        if score > best_score:
            best, best_score = float(t), float(score)
    return round(best, 2)


def _save(model: dict[str, Any]) -> None:
    COEFFICIENTS.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
    calibration.coefficients.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("squad", type=Path)
    args = parser.parse_args()
    model = dict(calibration.coefficients())
    with tempfile.TemporaryDirectory(prefix="cstoqa-calibrate-") as tmp:
        items = load_squad(args.squad, Path(tmp) / "corpus")
        assistant = Assistant.open(Path(tmp) / "corpus", Path(tmp) / "index")
        assistant.settings = assistant.settings.model_copy(update={"abstain_threshold": 0.0})
        groups = sorted({i.group or "" for i in items})
        fit_groups = set(groups[::2])
        fit = [i for i in items if i.group in fit_groups]
        held = [i for i in items if i.group not in fit_groups]

        model["sentence_weights"] = fit_sentence_weights(assistant, fit)
        _save(model)
        x, y = collect(assistant, fit)
        bias, coef = _logistic(x, y)
        model["bias"] = bias
        model["weights"] = dict(zip(Features.names(), (float(c) for c in coef), strict=True))
        _save(model)
        fit_preds = runner.run(assistant, fit, threshold=0.0)
        model["threshold"] = best_threshold(fit_preds)
        held_preds = runner.run(assistant, held, threshold=model["threshold"])
        held_metrics = runner.summarize(held_preds, model["threshold"])
    model["fitted_on"] = {
        "file": args.squad.name,
        "fit_articles": sorted(fit_groups),
        "fit_questions": len(fit),
        "held_out_articles": sorted(set(groups) - fit_groups),
        "held_out_questions": len(held),
        "date": time.strftime("%Y-%m-%d"),
        "label": f"answer F1 >= {CORRECT_F1}",
        "held_out": {
            "overall_f1": held_metrics["overall"]["f1"],
            "answerable_f1": held_metrics["answerable"]["f1"],
            "unanswerable_abstained": held_metrics["unanswerable"]["abstained"],
        },
    }
    _save(model)
    print(json.dumps(model, indent=2))


if __name__ == "__main__":
    main()
