"""Fit the fusion rule of retrieval on training articles and report it on a held-out split.

Each SQuAD file's paragraphs become one open corpus in a temporary index. For every answerable question the
three retrievers run once; a passage is a hit when it holds a gold answer, as in ``cstoqa eval``. The rule is a
coverage cut and two weight triples (``Settings.paraphrase_weights`` below the cut, ``overlap_weights`` at or
above it), scored by MRR over the shown passages.

Most SQuAD questions repeat the words of their passage; users mostly don't. Many rules are within noise of the
best MRR on the pool, so the choice among them goes to the one best on the pool's *paraphrased* fifth: the
questions whose answering sentence holds the smallest share of their words. The best single triple, chosen the
same way, is reported beside the rule as the alternative it replaces.

    python -m cstoqa.evaluation.tune_retrieval ../shared/qa_train/squad_pool.json \\
        --test ../shared/squad2/dev_public.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from cstoqa.assistant import Assistant
from cstoqa.embedding import Embedder
from cstoqa.evaluation.datasets import load_squad
from cstoqa.evaluation.metrics import contains_answer, retrieval_scores
from cstoqa.retrieval import Rankings, fuse, fusion_weights, lexical_coverage, rankings_for
from cstoqa.settings import FusionWeights, Settings

GRID = tuple(
    FusionWeights(dense=d, sentence=s, lexical=b)
    for d, s, b in itertools.product((0.0, 1.0, 2.0, 3.0), repeat=3)
    if d or s or b
)
CUTS = tuple(round(c, 2) for c in np.arange(0.0, 1.001, 0.05))
SHORTLIST = 12  # triples per side of each cut tried in pairs; the rest score far below on their own side
PARAPHRASED = 0.2  # share of the pool, least repeated wording first, that stands in for users' questions
RULE = {"coverage_cut", "paraphrase_weights", "overlap_weights"}  # the settings a fit chooses


class Question(BaseModel):
    """One answerable question's retrieval lists, the chunk rows that hold a gold answer, and the largest share
    of the question's words that a sentence holding the answer repeats (its chunk's, when the answer crosses
    sentences; 0 when no passage retrieved holds it)."""

    rankings: Rankings
    hits: frozenset[int]
    wording: float


def collect(squad: Path, settings: Settings, embedder: Embedder | None = None) -> list[Question]:
    """Index the file's paragraphs and run the three retrievers for each answerable question."""
    with tempfile.TemporaryDirectory(prefix="cstoqa-tune-") as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        items = [item for item in load_squad(squad, corpus) if item.answerable]
        assistant = Assistant.open(corpus, index, settings=settings, embedder=embedder)
        data = assistant.data
        vectors = assistant.embedder.encode([item.question for item in items])
        questions = []
        for item, vector in zip(items, vectors, strict=True):
            rankings = rankings_for(data, item.question, vector, settings)
            rows = {row for row, _ in rankings.dense} | {row for row, _ in rankings.lexical} | set(rankings.sentence)
            hits = frozenset(row for row in rows if contains_answer(data.chunks[row].text, item.answers))
            answering = [
                data.sentences[sid].text
                for row in hits
                for sid in data.chunks[row].sentence_ids
                if contains_answer(data.sentences[sid].text, item.answers)
            ] or [data.chunks[row].text for row in hits]
            wording = max((lexical_coverage(item.question, text) for text in answering), default=0.0)
            questions.append(Question(rankings=rankings, hits=hits, wording=wording))
        return questions


def hit_rank(question: Question, weights: FusionWeights, settings: Settings) -> int:
    """Rank of the first hit among the shown passages, 0 for none."""
    fused = fuse(question.rankings, weights, settings.rrf_k)[: settings.top_k]
    return next((r for r, (row, _) in enumerate(fused, start=1) if row in question.hits), 0)


def hit_ranks(questions: Sequence[Question], weights: FusionWeights, settings: Settings) -> np.ndarray:
    return np.array([hit_rank(q, weights, settings) for q in questions], dtype=int)


def ranks_by(questions: Sequence[Question], settings: Settings) -> np.ndarray:
    """Ranks with each question fused as retrieval fuses it under these settings."""
    return np.array(
        [hit_rank(q, fusion_weights(q.rankings.coverage, settings), settings) for q in questions], dtype=int
    )


def reciprocal(ranks: np.ndarray) -> np.ndarray:
    return np.where(ranks > 0, 1.0 / np.maximum(ranks, 1), 0.0)


def paraphrased(questions: Sequence[Question]) -> np.ndarray:
    wording = np.array([q.wording for q in questions])
    return np.asarray(wording <= np.quantile(wording, PARAPHRASED), dtype=bool)


def select(candidates: Sequence[tuple[Settings, np.ndarray]], focus: np.ndarray) -> Settings:
    """Among candidates (a rule and its reciprocal ranks) within one standard error of the best MRR, paired,
    the one with the best MRR on the ``focus`` questions."""
    rr = np.stack([c[1] for c in candidates])
    best = rr[int(np.argmax(rr.mean(axis=1)))]
    error = (rr - best).std(axis=1) / np.sqrt(rr.shape[1])
    near = rr.mean(axis=1) >= best.mean() - error
    return candidates[int(np.argmax(np.where(near, rr[:, focus].mean(axis=1), -1.0)))][0]


def with_rule(settings: Settings, cut: float, paraphrase: FusionWeights, overlap: FusionWeights) -> Settings:
    return settings.model_copy(
        update={"coverage_cut": cut, "paraphrase_weights": paraphrase, "overlap_weights": overlap}
    )


def fit(questions: Sequence[Question], settings: Settings) -> tuple[Settings, Settings]:
    """Settings with the fitted rule, and with the best single triple on both sides of the cut."""
    coverage = np.array([q.rankings.coverage for q in questions])
    rr = np.stack([reciprocal(hit_ranks(questions, w, settings)) for w in GRID])
    focus = paraphrased(questions)
    single = select([(with_rule(settings, 0.0, w, w), rr[i]) for i, w in enumerate(GRID)], focus)
    candidates = []
    for cut in CUTS:
        low = coverage < cut
        below = np.argsort(-rr[:, low].sum(axis=1), kind="stable")[:SHORTLIST]
        above = np.argsort(-rr[:, ~low].sum(axis=1), kind="stable")[:SHORTLIST]
        for lo, hi in itertools.product(below, above):
            candidates.append((with_rule(settings, cut, GRID[lo], GRID[hi]), np.where(low, rr[lo], rr[hi])))
    return select(candidates, focus), single


def scores(ranks: np.ndarray) -> dict[str, float]:
    return {name: round(value, 4) for name, value in retrieval_scores(ranks.tolist()).items()}


def report(questions: Sequence[Question], rules: dict[str, Settings]) -> dict[str, object]:
    """Each rule on all questions and on the paraphrased fifth."""
    focus = paraphrased(questions)
    result: dict[str, object] = {"questions": len(questions), "paraphrased": int(focus.sum())}
    for name, rule in rules.items():
        ranks = ranks_by(questions, rule)
        result[name] = {"all": scores(ranks), "paraphrased": scores(ranks[focus])}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("train", type=Path, help="SQuAD v2.0 JSON to fit on (training articles)")
    parser.add_argument("--test", type=Path, help="SQuAD v2.0 JSON to report the fitted rule on")
    args = parser.parse_args()
    settings = Settings()
    train = collect(args.train, settings)
    rule, single = fit(train, settings)
    rules = {"fitted": rule, "single_weights": single, "settings": settings}
    result: dict[str, object] = {
        "fitted": rule.model_dump(include=RULE),
        "single_weights": single.paraphrase_weights.model_dump(),
        args.train.name: report(train, rules),
    }
    if args.test:
        result[args.test.name] = report(collect(args.test, settings), rules)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
