"""Fit the answerer's weights, its confidence model and the abstention threshold on SQuAD 2.0 questions.

Run: ``python -m cstoqa.evaluation.calibrate ../shared/squad2/dev_public.json``. All paragraphs are indexed
as one corpus. The questions of every other article (sorted by title) are the fitting set; the rest are
held out and only reported. Questions of the fitting set asked against an index of the held-out articles'
paragraphs alone serve as off-topic questions, which SQuAD itself lacks. Writes
``src/cstoqa/answer/calibration.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cstoqa.analysis import words
from cstoqa.answer import calibration
from cstoqa.answer.answerer import SPECIFIC_TYPES, Decision, decide, render
from cstoqa.answer.calibration import COEFFICIENTS, Features
from cstoqa.answer.question_type import answer_type, is_plural_ask
from cstoqa.answer.sentence_scoring import score_sentences
from cstoqa.answer.spans import SpanFeatures, span_candidates
from cstoqa.assistant import Assistant
from cstoqa.evaluation import runner
from cstoqa.evaluation.datasets import EvalItem, load_squad
from cstoqa.evaluation.metrics import contains_answer, f1_score
from cstoqa.retrieval import retrieve
from cstoqa.types import Passage

CORRECT_F1 = 0.5


@dataclass
class Asked:
    item: EvalItem
    vector: np.ndarray
    passages: list[Passage]


def _logistic(x: np.ndarray, y: np.ndarray) -> tuple[float, list[float]]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=2000).fit(x, y)
    return float(model.intercept_[0]), [float(c) for c in model.coef_[0]]


def ask_all(assistant: Assistant, items: list[EvalItem]) -> list[Asked]:
    settings = assistant.settings
    k = max(settings.top_k, settings.reader_passages)
    out = []
    for item in items:
        vector = assistant.embedder.encode([item.question])[0]
        out.append(Asked(item, vector, retrieve(assistant.data, item.question, vector, settings, k)))
    return out


def fit_sentence_weights(assistant: Assistant, asked: list[Asked]) -> dict[str, float]:
    """Logistic regression of "this candidate sentence contains a gold answer", scaled to cosine weight 1."""
    rows, labels = [], []
    for a in asked:
        q = a.item.question
        for s in score_sentences(words(q), answer_type(q), a.vector, a.passages, assistant.data):
            rows.append([s.cosine, s.overlap, 1.0 / s.passage_rank, s.typed])
            labels.append(contains_answer(s.sentence.text, a.item.answers))
    _, coef = _logistic(np.array(rows), np.array(labels))
    return {
        "cosine": 1.0,
        "overlap": coef[1] / coef[0],
        "inverse_rank": coef[2] / coef[0],
        "typed": coef[3] / coef[0],
    }


def fit_span_weights(assistant: Assistant, asked: list[Asked]) -> dict[str, float]:
    """Logistic regression of "this candidate span is the answer" (F1 ≥ 0.5 with a gold answer)."""
    rows, labels = [], []
    for a in asked:
        q = a.item.question
        ranked = score_sentences(words(q), answer_type(q), a.vector, a.passages, assistant.data)
        for c in span_candidates(
            ranked, assistant.data.sentences, {w.stem for w in words(q)}, answer_type(q), is_plural_ask(q)
        ):
            text = assistant.data.documents[c.sentence.sentence.doc_id].text[c.start : c.end]
            rows.append(c.features.vector())
            labels.append(f1_score(text, a.item.answers) >= CORRECT_F1)
    bias, coef = _logistic(np.array(rows), np.array(labels))
    return {"bias": bias, **dict(zip(SpanFeatures.names(), coef, strict=True))}


def _decisions(assistant: Assistant, asked: list[Asked]) -> list[tuple[Asked, Decision]]:
    pairs = []
    for a in asked:
        decision = decide(a.item.question, a.vector, a.passages, assistant.data)
        if decision is not None:
            pairs.append((a, decision))
    return pairs


def fit_span_min_score(assistant: Assistant, asked: list[Asked]) -> float:
    """For untyped questions: the span score above which a span beats the whole sentence on mean F1."""
    rows = []
    for a, d in _decisions(assistant, asked):
        if d.span is None or d.kind in SPECIFIC_TYPES:
            continue
        span_text = assistant.data.documents[d.span.sentence.sentence.doc_id].text[d.span.start : d.span.end]
        rows.append(
            (d.span.score, f1_score(span_text, a.item.answers), f1_score(d.ranked[0].sentence.text, a.item.answers))
        )
    best, best_f1 = 0.0, -1.0
    for cut in sorted({round(score, 2) for score, _, _ in rows}):
        mean = float(np.mean([span if score >= cut else sentence for score, span, sentence in rows]))
        if mean > best_f1:
            best, best_f1 = cut, mean
    return best


def confidence_rows(
    assistant: Assistant, asked: list[Asked], off_topic: bool
) -> tuple[list[list[float]], list[bool], list[tuple[str | None, list[str]]]]:
    """Features, and whether the evidence the answer cites contains a gold answer.

    Confidence is the probability that the sources support the answer given, which is what a
    reader checks in the citation, rather than that the short span matches the gold span word for word.
    """
    rows, labels, outcomes = [], [], []
    for a, d in _decisions(assistant, asked):
        answer = render(a.item.question, d, assistant.data)
        golds = [] if off_topic else a.item.answers
        rows.append(d.features.vector())
        labels.append(any(contains_answer(c.quote, golds) for c in answer.citations))
        outcomes.append((answer.text, golds))
    return rows, labels, outcomes


def best_threshold(confidences: list[float], outcomes: list[tuple[str | None, list[str]]]) -> float:
    """The lowest confidence cut whose overall F1 is within one standard error of the best cut's.

    Overall F1 scores an abstention 1 on an unanswerable question. Its curve is flat near the top, and
    half of SQuAD 2.0's questions are adversarial unanswerables, so the best cut answers little. Cuts
    within the standard error of the best one's F1 are indistinguishable on this sample (the
    one-standard-error rule of Breiman et al., 1984); among them we prefer the one that answers the most.
    """
    cuts = [round(float(t), 2) for t in np.linspace(0.02, 0.98, 97)]
    per_cut = [
        np.array(
            [f1_score(text if c >= t else None, golds) for c, (text, golds) in zip(confidences, outcomes, strict=True)]
        )
        for t in cuts
    ]
    scores = [float(f.mean()) for f in per_cut]
    best = int(np.argmax(scores))
    standard_error = float(per_cut[best].std(ddof=1) / np.sqrt(len(per_cut[best])))
    return min(t for t, score in zip(cuts, scores, strict=True) if score >= scores[best] - standard_error)


def _save(model: dict[str, Any]) -> None:
    COEFFICIENTS.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
    calibration.coefficients.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("squad", type=Path)
    args = parser.parse_args()
    model = dict(calibration.coefficients())
    with tempfile.TemporaryDirectory(prefix="cstoqa-calibrate-") as tmp:
        root = Path(tmp)
        items = load_squad(args.squad, root / "corpus")
        groups = sorted({i.group or "" for i in items})
        fit_groups = set(groups[::2])
        fit = [i for i in items if i.group in fit_groups]
        held = [i for i in items if i.group not in fit_groups]
        load_squad(
            args.squad,
            root / "distractors",
            articles={n for n, g in enumerate(_titles(args.squad)) if g not in fit_groups},
        )
        assistant = Assistant.open(root / "corpus", root / "index")
        distractors = Assistant.open(root / "distractors", root / "distractor-index")

        asked = ask_all(assistant, fit)
        answerable = [a for a in asked if a.item.answers]
        model["sentence_weights"] = fit_sentence_weights(assistant, answerable)
        _save(model)
        model["span_weights"] = fit_span_weights(assistant, answerable)
        _save(model)
        model["span_min_score"] = fit_span_min_score(assistant, answerable)
        _save(model)

        rows, labels, outcomes = confidence_rows(assistant, asked, off_topic=False)
        off_rows, off_labels, _ = confidence_rows(distractors, ask_all(distractors, fit), off_topic=True)
        bias, coef = _logistic(np.array(rows + off_rows), np.array(labels + off_labels))
        model["bias"], model["weights"] = bias, dict(zip(Features.names(), coef, strict=True))
        _save(model)
        confidences = [calibration.confidence(Features(*row)) for row in rows]
        model["threshold"] = best_threshold(confidences, outcomes)

        assistant.settings = assistant.settings.model_copy(update={"abstain_threshold": model["threshold"]})
        held_metrics = runner.summarize(runner.run(assistant, held), model["threshold"])
    model["fitted_on"] = {
        "file": args.squad.name,
        "fit_articles": sorted(fit_groups),
        "fit_questions": len(fit),
        "off_topic_questions": len(off_rows),
        "held_out_articles": sorted(set(groups) - fit_groups),
        "held_out_questions": len(held),
        "date": time.strftime("%Y-%m-%d"),
        "label": "a cited sentence contains a gold answer (spans: F1 >= 0.5 for the span model)",
        "held_out": {
            "overall_f1": held_metrics["overall"]["f1"],
            "answerable_f1": held_metrics["answerable"]["f1"],
            "unanswerable_abstained": held_metrics["unanswerable"]["abstained"],
            "dense_best_sentence_overall_f1": held_metrics["baselines"]["dense_best_sentence"]["overall"]["f1"],
            "dense_best_sentence_answerable_f1": held_metrics["baselines"]["dense_best_sentence"]["answerable"]["f1"],
        },
    }
    _save(model)
    print(json.dumps(model, indent=2))


def _titles(path: Path) -> list[str]:
    return [a["title"].replace("_", " ") for a in json.loads(path.read_text(encoding="utf-8"))["data"]]


if __name__ == "__main__":
    main()
