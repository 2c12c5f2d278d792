"""Stage 4: reciprocal rank fusion (pure) and hybrid search over the small corpus."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cstoqa.assistant import Assistant
from cstoqa.chunking import sentence_embedding_text
from cstoqa.errors import InvalidQuestionError
from cstoqa.retrieval import (
    fusion_weights,
    lexical_coverage,
    rankings_for,
    reciprocal_rank_fusion,
    retrieve,
    sentence_ranking,
)
from cstoqa.settings import FusionWeights, Settings
from support import FakeEmbedder

# --- reciprocal rank fusion -------------------------------------------------------------------------


def test_rrf_exact_scores_with_k_60() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1]], [1.0, 1.0], k=60)
    assert [item for item, _ in fused] == [1, 3, 2]
    scores = dict(fused)
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)


def test_rrf_default_k_is_60() -> None:
    assert reciprocal_rank_fusion([[7]], [1.0]) == [(7, pytest.approx(1 / 61))]


def test_rrf_weights_scale_each_list() -> None:
    fused = reciprocal_rank_fusion([[1, 2], [2, 1]], [2.0, 0.5], k=60)
    assert fused == [(1, pytest.approx(2 / 61 + 0.5 / 62)), (2, pytest.approx(2 / 62 + 0.5 / 61))]
    # a zero weight turns a retriever off, but its ids still appear (with score 0) after the others
    off = reciprocal_rank_fusion([[1, 2], [3]], [1.0, 0.0], k=60)
    assert off == [(1, pytest.approx(1 / 61)), (2, pytest.approx(1 / 62)), (3, 0.0)]


def test_rrf_ids_in_only_one_list_and_ties_keep_first_seen_order() -> None:
    fused = reciprocal_rank_fusion([[10, 11], [20, 21]], [1.0, 1.0], k=60)
    assert fused == [
        (10, pytest.approx(1 / 61)),
        (20, pytest.approx(1 / 61)),
        (11, pytest.approx(1 / 62)),
        (21, pytest.approx(1 / 62)),
    ]


def test_rrf_small_k_rewards_the_top_rank_more() -> None:
    fused = reciprocal_rank_fusion([[1, 2]], [1.0], k=1)
    assert fused == [(1, pytest.approx(1 / 2)), (2, pytest.approx(1 / 3))]


def test_rrf_empty_inputs_give_empty_output() -> None:
    assert reciprocal_rank_fusion([], []) == []
    assert reciprocal_rank_fusion([[], []], [1.0, 1.0]) == []


def test_rrf_needs_one_weight_per_ranking() -> None:
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[1], [2]], [1.0])


# --- hybrid search ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "doc_id", "section", "needle"),
    [
        ("Where is the secretariat located?", "page.html", "Secretariat", "located in Moscow"),
        ("When was the Collective Security Treaty signed in Tashkent?", "guide.txt", "Treaty Basics", "1992"),
        ("Which states are full members?", "guide.txt", "Membership", "Tajikistan"),
        ("When was the rapid reaction force deployed?", "notes.md", "Deployment", "January 2022"),
        ("How often are exercises held?", "notes.md", "Setext Heading", "every autumn"),
    ],
)
def test_hybrid_search_ranks_the_right_passage_first(
    open_assistant: Callable[..., Assistant],
    fake_embedder: FakeEmbedder,
    question: str,
    doc_id: str,
    section: str,
    needle: str,
) -> None:
    assistant = open_assistant()
    passages = assistant.search(question)
    top = passages[0]
    assert (top.doc_id, top.section) == (doc_id, section)
    assert needle in top.text
    doc = assistant.data.documents[doc_id]
    assert doc.text[top.start : top.end] == top.text
    assert top.title == doc.title
    assert top.dense_rank == 1 and top.lexical_rank == 1
    assert top.dense_score is not None and 0 < top.dense_score <= 1.0001
    assert top.lexical_score is not None and top.lexical_score > 0
    s = assistant.settings
    w = fusion_weights(rankings_for(assistant.data, question, fake_embedder.encode([question])[0], s).coverage, s)
    assert top.score == pytest.approx((w.dense + w.lexical + w.sentence) / (s.rrf_k + 1))


def test_search_results_are_sorted_and_offsets_exact(open_assistant: Callable[..., Assistant]) -> None:
    assistant = open_assistant()
    passages = assistant.search("member states collective defence", top_k=10)
    assert len(passages) == len(assistant.data.chunks)  # fewer chunks than top_k: all of them
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    assert len({p.chunk.chunk_id for p in passages}) == len(passages)
    for p in passages:
        assert assistant.data.documents[p.doc_id].text[p.start : p.end] == p.text
        assert p.dense_rank is not None or p.lexical_rank is not None


def test_top_k_limits_results(open_assistant: Callable[..., Assistant]) -> None:
    assistant = open_assistant()
    assert len(assistant.search("treaty", top_k=2)) == 2
    assert len(assistant.search("treaty")) == min(assistant.settings.top_k, len(assistant.data.chunks))


def test_stop_word_question_uses_dense_retrieval_only(open_assistant: Callable[..., Assistant]) -> None:
    passages = open_assistant().search("what is it?")
    assert passages
    assert all(p.lexical_rank is None and p.dense_rank is not None for p in passages)


DENSE_ONLY = FusionWeights(dense=1, sentence=0, lexical=0)
LEXICAL_ONLY = FusionWeights(dense=0, sentence=0, lexical=1)
MIXED = "Which members pay into the budget and where does the council meet?"


def test_each_list_alone_decides_the_order_when_it_has_the_only_weight(
    open_assistant: Callable[..., Assistant], fake_embedder: FakeEmbedder
) -> None:
    assistant = open_assistant()
    vector = fake_embedder.encode([MIXED])[0]
    dense = Settings(paraphrase_weights=DENSE_ONLY, overlap_weights=DENSE_ONLY)
    lexical = Settings(paraphrase_weights=LEXICAL_ONLY, overlap_weights=LEXICAL_ONLY)
    dense_only = retrieve(assistant.data, MIXED, vector, dense, 3)
    lexical_only = retrieve(assistant.data, MIXED, vector, lexical, 3)
    assert [p.dense_rank for p in dense_only] == [1, 2, 3]
    assert [p.lexical_rank for p in lexical_only] == [1, 2, 3]
    assert [p.chunk.chunk_id for p in dense_only] != [p.chunk.chunk_id for p in lexical_only], "the lists must differ"


def test_the_weights_follow_how_much_of_the_question_the_top_bm25_passage_holds(
    open_assistant: Callable[..., Assistant], fake_embedder: FakeEmbedder
) -> None:
    data = open_assistant().data
    vector = fake_embedder.encode([MIXED])[0]
    coverage = rankings_for(data, MIXED, vector, Settings()).coverage
    assert 0 < coverage < 1, "the question must be partly matched for the test to tell the two sides apart"
    below = Settings(coverage_cut=1.0, paraphrase_weights=DENSE_ONLY, overlap_weights=LEXICAL_ONLY)
    at_or_above = Settings(coverage_cut=coverage, paraphrase_weights=DENSE_ONLY, overlap_weights=LEXICAL_ONLY)
    assert [p.dense_rank for p in retrieve(data, MIXED, vector, below, 3)] == [1, 2, 3]
    assert [p.lexical_rank for p in retrieve(data, MIXED, vector, at_or_above, 3)] == [1, 2, 3]


@pytest.mark.parametrize(
    ("question", "passage", "coverage"),
    [
        ("Where is the secretariat located?", "The Secretariat, located in Moscow, runs the budget.", 1.0),
        ("Which members fund the secretariat?", "Member states pay into the budget.", 1 / 3),
        ("Where does the council meet?", "The Secretariat is located in Moscow.", 0.0),
        ("What is it?", "It is what it is.", 0.0),
    ],
)
def test_lexical_coverage_counts_distinct_stemmed_content_words(question: str, passage: str, coverage: float) -> None:
    assert lexical_coverage(question, passage) == pytest.approx(coverage)


def test_a_question_bm25_cannot_match_uses_the_paraphrase_weights() -> None:
    s = Settings()
    assert fusion_weights(0.0, s) == s.paraphrase_weights
    assert fusion_weights(s.coverage_cut - 0.01, s) == s.paraphrase_weights
    assert fusion_weights(s.coverage_cut, s) == s.overlap_weights
    assert s.paraphrase_weights.dense > s.overlap_weights.dense, "paraphrases lean on the dense lists"


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "the question is empty"),
        ("   \t\n", "the question is empty"),
        ("?!?", "has no words in it"),
        ("x" * 2001, "the limit is 2000"),
    ],
)
def test_bad_questions_raise_with_a_reason(
    open_assistant: Callable[..., Assistant], question: str, message: str
) -> None:
    with pytest.raises(InvalidQuestionError, match=message):
        open_assistant().search(question)


def test_bad_top_k_is_rejected(open_assistant: Callable[..., Assistant]) -> None:
    with pytest.raises(InvalidQuestionError, match="top_k must be at least 1, got -1"):
        open_assistant().search("treaty", top_k=-1)


def test_top_k_zero_is_rejected(open_assistant: Callable[..., Assistant]) -> None:
    with pytest.raises(InvalidQuestionError, match="top_k must be at least 1, got 0"):
        open_assistant().search("treaty", top_k=0)


def test_sentence_hits_vote_for_the_chunk_that_holds_them(
    open_assistant: Callable[..., Assistant], fake_embedder: FakeEmbedder
) -> None:
    data = open_assistant().data
    sid = len(data.sentences) // 2
    vector = fake_embedder.encode([sentence_embedding_text(data.sentences[sid])])[0]
    ranking = sentence_ranking(data, vector, Settings())
    assert len(ranking) == len(set(ranking)), "each chunk once"
    assert ranking[0] == data.sentence_chunk[sid]
    assert sid in data.chunks[ranking[0]].sentence_ids
