"""Fitting the fusion rule: the retrieval lists of a SQuAD file, and the cut and weights chosen from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cstoqa.evaluation.tune_retrieval import Question, collect, fit, hit_ranks, report, select
from cstoqa.retrieval import Rankings
from cstoqa.settings import FusionWeights, Settings
from support import FakeEmbedder

TINY = Path(__file__).parent / "data" / "tiny_squad.json"


def question(coverage: float, dense: list[int], lexical: list[int], hit: int, wording: float = 1.0) -> Question:
    rankings = Rankings(
        dense=[(row, 1.0) for row in dense],
        lexical=[(row, 1.0) for row in lexical],
        sentence=[96, 97],
        coverage=coverage,
    )
    return Question(rankings=rankings, hits=frozenset({hit}), wording=wording)


def rule(cut: float) -> Settings:
    w = FusionWeights(dense=1, sentence=0, lexical=0)
    return Settings(coverage_cut=cut, paraphrase_weights=w, overlap_weights=w)


def test_collect_runs_each_answerable_question_once_and_marks_the_chunks_holding_a_gold_answer() -> None:
    questions = collect(TINY, Settings(), FakeEmbedder())
    assert len(questions) == 4, "the two unanswerable questions are left out"
    founded, founder, moved, tern = questions
    assert founded.hits == founder.hits and len(founded.hits) == 1
    assert moved.hits.isdisjoint(founded.hits) and tern.hits.isdisjoint(founded.hits)
    assert founded.rankings.lexical[0][0] in founded.hits
    assert founded.rankings.coverage == founded.wording == 1.0  # "acme" and "found" are both in the paragraph
    assert moved.wording == pytest.approx(2 / 3), "its paragraph says 'the company', not 'Acme'"


def test_hit_ranks_count_only_the_shown_passages() -> None:
    settings = Settings(top_k=2)
    questions = [question(1.0, [1, 2, 3], [3, 2, 1], hit=3), question(1.0, [1, 2], [1, 2], hit=9)]
    assert list(hit_ranks(questions, FusionWeights(dense=0, sentence=0, lexical=1), settings)) == [1, 0]
    assert list(hit_ranks(questions, FusionWeights(dense=1, sentence=0, lexical=0), settings)) == [0, 0]


def test_fit_finds_the_cut_between_paraphrased_and_matched_questions() -> None:
    """Below coverage 0.5 only the dense list finds the answer, above it only BM25; the sentence list never."""
    paraphrased = [question(0.2, [row, 90], [91, 92], hit=row, wording=0.2) for row in range(10)]
    matched = [question(0.8, [93, 94], [row, 95], hit=row, wording=0.8) for row in range(10, 20)]
    settings = Settings()
    fitted, single = fit(paraphrased + matched, settings)
    assert 0.2 < fitted.coverage_cut <= 0.8
    assert fitted.paraphrase_weights.dense > fitted.paraphrase_weights.lexical
    assert fitted.overlap_weights.lexical > fitted.overlap_weights.dense
    assert single.paraphrase_weights == single.overlap_weights
    figures = report(paraphrased + matched, {"fitted": fitted, "single": single})
    assert figures["paraphrased"] == 10
    assert figures["fitted"]["all"] == {"hit@1": 1.0, "hit@3": 1.0, "hit@5": 1.0, "mrr": 1.0}
    assert figures["single"]["all"]["mrr"] < 1.0, "no single triple ranks both kinds first"


def test_select_prefers_the_focus_questions_only_among_rules_the_data_cannot_tell_apart() -> None:
    focus = np.array([True] * 10 + [False] * 90)
    best = np.ones(100)
    best[:2] = 0.0  # the best overall (MRR 0.98) misses two focus questions
    close = np.r_[np.ones(96), np.zeros(4)]  # 0.96: within one standard error (0.024), every focus question found
    far = np.r_[np.ones(10), np.zeros(90)]  # every focus question found, but far behind overall
    assert select([(rule(0.1), best), (rule(0.2), close)], focus) == rule(0.2)
    assert select([(rule(0.1), best), (rule(0.3), far)], focus) == rule(0.1)
