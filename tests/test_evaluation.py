"""Evaluation maths against hand-computed SQuAD 2.0 scores, and the confidence fit on soft labels."""

from __future__ import annotations

import numpy as np
import pytest

from cstoqa.analysis import normalize_answer
from cstoqa.evaluation.metrics import contains_answer, first_hit_rank
from cstoqa.evaluation.runner import Prediction, summarize
from cstoqa.squad import exact_match, f1_score


def test_normalisation_is_squads() -> None:
    assert normalize_answer("The  Collective Security-Council!") == "collective securitycouncil"
    assert normalize_answer("an “Apple”, a pear") == "apple pear"


def test_exact_match_and_f1_by_hand() -> None:
    assert exact_match("the Permanent Council", ["Permanent Council"]) == 1.0
    # "permanent council of csto" vs "permanent council": common 2, precision 2/4, recall 2/2 → F1 = 2/3
    assert f1_score("the Permanent Council of the CSTO", ["Permanent Council"]) == pytest.approx(2 / 3)
    # the best of several golds counts
    assert f1_score("Moscow", ["in Moscow city", "Moscow"]) == 1.0
    assert f1_score("Minsk", ["Moscow"]) == 0.0


def test_unanswerable_questions_score_one_only_when_abstained() -> None:
    assert exact_match(None, []) == f1_score(None, []) == 1.0
    assert exact_match("2002", []) == f1_score("2002", []) == 0.0
    assert f1_score(None, ["2002"]) == 0.0


def test_containment_and_hit_rank() -> None:
    assert contains_answer("Established in 2002, the organization", ["2002"])
    assert not contains_answer("in 20021", ["2002"])
    assert first_hit_rank(["nothing here", "signed in 2002"], ["2002"]) == 2
    assert first_hit_rank(["nothing"], ["2002"]) is None


def prediction(i: int, gold: list[str], answer: str | None, would: str | None, group: str) -> Prediction:
    return Prediction(
        id=str(i),
        question="q",
        kind="factoid" if gold else "unanswerable",
        group=group,
        gold=gold,
        answer=answer,
        abstained=answer is None,
        confidence=0.9 if answer else 0.1,
        answer_kind="span" if answer else "abstain",
        citations=[],
        would_answer=would,
        hit_rank=1 if gold else None,
        latency_ms=1.0,
        offsets_ok=True,
        dense_sentence_baseline="",
    )


def test_summary_by_hand_on_four_questions() -> None:
    preds = [
        prediction(0, ["2002"], "2002", "2002", "old"),  # right: EM 1, F1 1
        prediction(1, ["Permanent Council"], "the Permanent Council of the CSTO", "…", "old"),  # F1 2/3
        prediction(2, ["Moscow"], None, "Moscow", "new"),  # abstained: 0, but right at full coverage
        prediction(3, [], None, "Minsk", "new"),  # unanswerable, abstained: 1
    ]
    m = summarize(preds, 0.5)
    assert m["overall"]["exact_match"] == pytest.approx((1 + 0 + 0 + 1) / 4)
    assert m["overall"]["f1"] == pytest.approx((1 + 2 / 3 + 0 + 1) / 4)
    assert m["answerable"]["f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert m["answerable"]["answer_recall"] == pytest.approx(2 / 3)
    assert m["unanswerable"]["abstained"] == 1.0
    assert m["abstention"]["false_abstention_rate"] == pytest.approx(1 / 3)
    assert m["answerable_every_question_answered"]["exact_match"] == pytest.approx(2 / 3)  # "…" scores 0
    assert m["answerable_every_question_answered"]["answer_recall"] == pytest.approx(2 / 3)
    (kind,) = m["by_kind"].values()
    assert kind["f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert kind["every_question_answered"]["f1"] == pytest.approx((1 + 0 + 1) / 3)
    assert m["baselines"]["always_abstain"]["overall"]["f1"] == pytest.approx(1 / 4)
    assert set(m["by_group"]) == {"old", "new"}
    assert m["by_group"]["new"]["overall"]["f1"] == pytest.approx(0.5)


def test_confidence_fit_learns_that_a_wider_margin_means_a_better_answer() -> None:
    pytest.importorskip("sklearn")
    from cstoqa.answer.confidence import probability
    from cstoqa.evaluation.calibrate import fit

    rng = np.random.default_rng(0)
    margin = rng.normal(0, 3, 400)
    x = np.column_stack([margin, rng.normal(0, 1, (400, 4))])
    y = (margin + rng.normal(0, 1, 400) > 0).astype(float) * rng.uniform(0.6, 1.0, 400)  # soft F1 labels
    model = fit(x, y)
    assert model.weights[0] > 0.5 and max(abs(w) for w in model.weights[1:]) < model.weights[0]
    high = probability([6.0, 0, 0, 0, 0], model)
    low = probability([-6.0, 0, 0, 0, 0], model)
    assert high > 0.7 and low < 0.1
