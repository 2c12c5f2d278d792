"""Fit the answerer's weights and its confidence model on SQuAD 2.0 questions; report held-out figures.

Run: ``python -m cstoqa.evaluation.calibrate ../shared/squad2/dev_public.json``. All paragraphs are indexed
as one corpus. The questions of every other article (sorted by title) are the fitting set; the rest are
held out and only reported. Questions of the fitting set asked against an index of the held-out articles'
paragraphs alone serve as off-topic questions, which SQuAD itself lacks. Writes
``src/cstoqa/answer/calibration.json``.
"""

from __future__ import annotations

import argparse
import itertools
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
from cstoqa.index import dense, lexical
from cstoqa.retrieval import reciprocal_rank_fusion, retrieve, sentence_ranking
from cstoqa.settings import Settings
from cstoqa.types import Passage

CORRECT_F1 = 0.5
FUSION_GRID = ((0.0, 0.5, 1.0, 2.0), (1.0, 2.0, 3.0, 4.0), (0.0, 0.5, 1.0, 2.0))
# The default threshold: answer when the calibrated probability that the cited evidence holds the answer is
# at least one half, the Bayes decision when a wrong answer costs as much as a missed right one. A cut read
# off SQuAD 2.0's overall-F1 curve moved between 0.52 and 0.59 from one refit to the next: half of its
# questions are adversarial unanswerables, and the curve is flat where they and answerable ones overlap.
ANSWER_ABOVE = 0.5


@dataclass
class Asked:
    item: EvalItem
    vector: np.ndarray
    passages: list[Passage]


def _logistic(x: np.ndarray, y: np.ndarray) -> tuple[float, list[float]]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=2000).fit(x, y)
    return float(model.intercept_[0]), [float(c) for c in model.coef_[0]]


def fit_fusion_weights(assistant: Assistant, items: list[EvalItem]) -> dict[str, float]:
    """RRF weights of the chunk-cosine, BM25 and sentence-cosine lists with the best MRR of a passage holding
    a gold answer; a grid, each question's three lists computed once."""
    data, settings = assistant.data, assistant.settings
    lists = []
    for item in items:
        vector = assistant.embedder.encode([item.question])[0]
        gold = {row for row, chunk in enumerate(data.chunks) if contains_answer(chunk.text, item.answers)}
        lists.append(
            (
                [
                    [row for row, _ in dense.search(data.dense_index, vector, settings.candidates)],
                    [row for row, _ in lexical.search(data.bm25, len(data.chunks), item.question, settings.candidates)],
                    sentence_ranking(data, vector, settings),
                ],
                gold,
            )
        )

    def mrr(weights: tuple[float, ...]) -> float:
        total = 0.0
        for rankings, gold in lists:
            fused = reciprocal_rank_fusion(rankings, weights, settings.rrf_k)
            total += next((1.0 / rank for rank, (row, _) in enumerate(fused, start=1) if row in gold), 0.0)
        return total / max(len(lists), 1)

    grid = [w for w in itertools.product(*FUSION_GRID) if w[0] or w[2]]
    best = max(grid, key=mrr)
    return dict(zip(("dense_weight", "lexical_weight", "sentence_weight"), best, strict=True))


def ask_all(assistant: Assistant, items: list[EvalItem]) -> list[Asked]:
    settings = assistant.settings
    k = max(settings.top_k, settings.reader_passages)
    out = []
    for item in items:
        vector = assistant.embedder.encode([item.question])[0]
        out.append(Asked(item, vector, retrieve(assistant.data, item.question, vector, settings, k)))
    return out


def _listwise(groups: list[tuple[np.ndarray, np.ndarray]], l2: float = 1e-3) -> np.ndarray:
    """Weights of a conditional logit: a softmax over each question's candidates, fitted to put mass on the right ones.

    A pointwise logistic regression scores each candidate alone, so it learns what tells candidates of any
    question apart; the answerer takes the best candidate of one question, which is what this fit rewards.
    """
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    groups = [(x, y) for x, y in groups if y.any() and not y.all()]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for x, y in groups:
            scores = x @ w
            every, right = logsumexp(scores), logsumexp(scores[y])
            total += every - right
            grad += x.T @ np.exp(scores - every) - x[y].T @ np.exp(scores[y] - right)
        n = max(len(groups), 1)
        return total / n + l2 * float(w @ w), grad / n + 2 * l2 * w

    return np.asarray(minimize(loss, np.zeros(groups[0][0].shape[1]), jac=True, method="L-BFGS-B").x)


def _best_first(groups: list[tuple[np.ndarray, np.ndarray]], grids: list[np.ndarray]) -> np.ndarray:
    """Weights (the first fixed at 1) under which a right candidate comes first for the most questions.

    Top-1 accuracy is a step function, so a grid rather than a gradient; with three free weights and
    a thousand questions the grid is small and the fit hard to overfit.
    """
    x = np.vstack([g for g, _ in groups])
    y = np.concatenate([labels for _, labels in groups])
    group = np.repeat(np.arange(len(groups)), [len(labels) for _, labels in groups])
    best, best_hits = np.zeros(x.shape[1]), -1
    for combo in itertools.product(*grids):
        weights = np.array((1.0, *combo))
        order = np.lexsort((-(x @ weights), group))
        first = order[np.r_[True, group[order][1:] != group[order][:-1]]]
        hits = int(y[first].sum())
        if hits > best_hits:
            best, best_hits = weights, hits
    return best


def sentence_groups(assistant: Assistant, asked: list[Asked]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per question: the sentence features (cosine, overlap, 1/passage rank, typed) and which hold a gold answer."""
    groups = []
    for a in asked:
        q = a.item.question
        scored = score_sentences(words(q), answer_type(q), a.vector, a.passages, assistant.data)
        if scored:
            x = np.array([[s.cosine, s.overlap, 1.0 / s.passage_rank, s.typed] for s in scored])
            groups.append((x, np.array([contains_answer(s.sentence.text, a.item.answers) for s in scored])))
    return groups


def fit_sentence_weights(groups: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """The sentence score's weights, cosine weight 1, chosen for the most questions with an answer sentence first.

    A pointwise logistic regression ("does this sentence hold the answer") learns what tells sentences of
    any question apart; the answerer takes the best sentence of one question, and that is what this fits.
    """
    overlap, inverse_rank, typed = _best_first(
        groups, [np.arange(0.0, 3.01, 0.25), np.arange(0.0, 1.51, 0.1), np.arange(0.0, 0.61, 0.1)]
    )[1:]
    return {"cosine": 1.0, "overlap": overlap, "inverse_rank": inverse_rank, "typed": typed}


def sentence_at_1(groups: list[tuple[np.ndarray, np.ndarray]], weights: dict[str, float]) -> float:
    w = np.array([weights[k] for k in ("cosine", "overlap", "inverse_rank", "typed")])
    return float(np.mean([labels[int(np.argmax(x @ w))] for x, labels in groups])) if groups else 0.0


def fit_span_weights(assistant: Assistant, asked: list[Asked]) -> dict[str, float]:
    """Listwise fit of "this span is the answer" (F1 ≥ 0.5 with a gold answer), then scaled to log-odds.

    The ranking weights come from the conditional logit; a one-feature logistic regression of the label on
    the resulting score sets scale and bias, so ``span_min_score`` and the span probability stay calibrated.
    """
    groups = []
    for a in asked:
        q = a.item.question
        ranked = score_sentences(words(q), answer_type(q), a.vector, a.passages, assistant.data)
        candidates = span_candidates(
            ranked, assistant.data.sentences, {w.stem for w in words(q)}, answer_type(q), is_plural_ask(q)
        )
        if candidates:
            docs = assistant.data.documents
            x = np.array([c.features.vector() for c in candidates])
            y = [f1_score(docs[c.sentence.sentence.doc_id].text[c.start : c.end], a.item.answers) for c in candidates]
            groups.append((x, np.array(y) >= CORRECT_F1))
    coef = _listwise(groups)
    x = np.vstack([x for x, _ in groups])
    bias, (scale,) = _logistic((x @ coef).reshape(-1, 1), np.concatenate([y for _, y in groups]))
    return {"bias": bias, **dict(zip(SpanFeatures.names(), (scale * coef).tolist(), strict=True))}


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


def confidence_rows(assistant: Assistant, asked: list[Asked], off_topic: bool) -> tuple[list[list[float]], list[bool]]:
    """Features, and whether the evidence the answer cites contains a gold answer.

    Confidence is the probability that the sources support the answer given, which is what a
    reader checks in the citation, rather than that the short span matches the gold span word for word.
    """
    rows, labels = [], []
    for a, d in _decisions(assistant, asked):
        answer = render(a.item.question, d, assistant.data)
        golds = [] if off_topic else a.item.answers
        rows.append(d.features.vector())
        labels.append(any(contains_answer(c.quote, golds) for c in answer.citations))
    return rows, labels


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
        model["fusion_weights"] = fit_fusion_weights(assistant, [i for i in fit if i.answers])
        _save(model)
        assistant.settings = Settings()
        distractors.settings = Settings()

        asked = ask_all(assistant, fit)
        answerable = [a for a in asked if a.item.answers]
        fit_sentences = sentence_groups(assistant, answerable)
        model["sentence_weights"] = fit_sentence_weights(fit_sentences)
        _save(model)
        held_sentences = sentence_groups(assistant, ask_all(assistant, [i for i in held if i.answers]))
        model["span_weights"] = fit_span_weights(assistant, answerable)
        _save(model)
        model["span_min_score"] = fit_span_min_score(assistant, answerable)
        _save(model)

        rows, labels = confidence_rows(assistant, asked, off_topic=False)
        off_rows, off_labels = confidence_rows(distractors, ask_all(distractors, fit), off_topic=True)
        bias, coef = _logistic(np.array(rows + off_rows), np.array(labels + off_labels))
        model["bias"], model["weights"] = bias, dict(zip(Features.names(), coef, strict=True))
        _save(model)
        confidences = [calibration.confidence(Features(*row)) for row in rows]
        answered = [label for c, label in zip(confidences, labels, strict=True) if c >= ANSWER_ABOVE]
        model["threshold"] = ANSWER_ABOVE

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
        "fit_answered": {"coverage": len(answered) / len(labels), "right": sum(answered) / max(len(answered), 1)},
        "sentence_at_1": {
            "fit": sentence_at_1(fit_sentences, model["sentence_weights"]),
            "held_out": sentence_at_1(held_sentences, model["sentence_weights"]),
        },
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
