"""Fit the answer confidence on SQuAD articles the reader never trained on, read as an open corpus.

For each question the assistant retrieves and reads as it would for a user; the best span's features are
paired with the F1 it earns (0 for an unanswerable question). A logistic regression on those soft labels
(each row counted F1 times as right and 1 − F1 times as wrong) gives the expected F1 of an answer, so the
Bayes decision for equal costs is to answer at 0.5. The number of passages read is chosen here too.

    python -m cstoqa.evaluation.calibrate ../shared/qa_train/squad_pool.json --articles 11,16,18,43
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from cstoqa.answer.confidence import COEFFICIENTS, FEATURES, ConfidenceModel, features, probability
from cstoqa.assistant import Assistant, clean_question
from cstoqa.evaluation.datasets import EvalItem, load_squad
from cstoqa.reader.model import WEIGHTS_FILE, TransformerReader
from cstoqa.settings import Settings
from cstoqa.squad import f1_score
from cstoqa.types import ReadSpan

READ_CHOICES = (1, 2, 3, 5, 8)


def collect(assistant: Assistant, items: list[EvalItem]) -> list[tuple[EvalItem, list[ReadSpan]]]:
    """The reader's spans for each question over the most passages any choice reads."""
    rows = []
    for item in items:
        _, spans = assistant.read(clean_question(item.question, assistant.settings.max_question_chars), assistant.data)
        rows.append((item, spans))
    return rows


def table(rows: list[tuple[EvalItem, list[ReadSpan]]], read: int) -> tuple[np.ndarray, np.ndarray]:
    """Features of the best span among the first ``read`` passages, and the F1 it earns."""
    x, y = [], []
    for item, spans in rows:
        mine = [s for s in spans if s.passage < read]
        if not mine:
            x.append([-20.0, 0.0, 20.0, 0.0, 0.0])
            y.append(0.0)
            continue
        best = max(mine, key=lambda s: s.margin)
        x.append(features(best, mine))
        y.append(f1_score(best.text, item.answers) if item.answers else 0.0)
    return np.array(x), np.array(y)


def fit(x: np.ndarray, y: np.ndarray) -> ConfidenceModel:
    from sklearn.linear_model import LogisticRegression

    rows = np.vstack([x, x])
    labels = np.concatenate([np.ones(len(y)), np.zeros(len(y))])
    weights = np.concatenate([y, 1.0 - y])
    keep = weights > 0
    model = LogisticRegression(C=1.0, max_iter=1000).fit(rows[keep], labels[keep], sample_weight=weights[keep])
    return ConfidenceModel(
        features=list(FEATURES), weights=[float(w) for w in model.coef_[0]], bias=float(model.intercept_[0])
    )


def overall_f1(x: np.ndarray, y: np.ndarray, answerable: np.ndarray, model: ConfidenceModel, t: float) -> float:
    p = np.array([probability(row, model) for row in x])
    return float(np.mean(np.where(p >= t, y, (~answerable).astype(float))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("squad", type=Path, help="SQuAD v2.0 JSON holding the held-out articles")
    parser.add_argument("--articles", required=True, help="comma-separated article positions held out of training")
    parser.add_argument("--out", type=Path, default=COEFFICIENTS)
    parser.add_argument("--weights", type=Path, default=WEIGHTS_FILE, help="reader weights to calibrate")
    args = parser.parse_args()
    articles = {int(a) for a in args.articles.split(",")}
    with tempfile.TemporaryDirectory(prefix="cstoqa-calibrate-") as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        items = load_squad(args.squad, corpus, articles)
        settings = Settings(reader_passages=max(READ_CHOICES))
        assistant = Assistant.open(corpus, index, settings=settings, reader=TransformerReader(args.weights))
        rows = collect(assistant, items)
    answerable = np.array([item.answerable for item, _ in rows])
    results = {}
    for read in READ_CHOICES:
        x, y = table(rows, read)
        model = fit(x, y)
        results[read] = (overall_f1(x, y, answerable, model, 0.5), model, float(np.mean(y[answerable])))
        print(
            f"read {read}: overall F1 {results[read][0]:.4f} at 0.5; answerable F1 answering all {results[read][2]:.4f}"
        )
    read = max(results, key=lambda r: results[r][0])
    score, model, _ = results[read]
    x, y = table(rows, read)
    curve = {f"{t:.2f}": round(overall_f1(x, y, answerable, model, t), 4) for t in np.arange(0.2, 0.81, 0.05)}
    model = model.model_copy(
        update={
            "fitted_on": {
                "file": args.squad.name,
                "articles": sorted(articles),
                "questions": len(rows),
                "reader_passages": read,
                "overall_f1_at_0.5": round(score, 4),
                "overall_f1_by_threshold": curve,
                "by_passages_read": {str(r): round(v[0], 4) for r, v in results.items()},
            }
        }
    )
    args.out.write_text(model.model_dump_json(indent=2) + "\n", encoding="utf-8")
    print(json.dumps(model.fitted_on, indent=2))


if __name__ == "__main__":
    main()
