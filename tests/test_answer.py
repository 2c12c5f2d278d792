"""The answerer: the reader's best span becomes the answer, cited with the sentences that hold it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cstoqa.answer.answerer import answer_question, cite
from cstoqa.answer.confidence import FEATURES, ConfidenceModel, features, probability, shipped
from cstoqa.assistant import Assistant
from cstoqa.settings import Settings
from cstoqa.types import ReadSpan

# Weights that trust the margin only: P = sigmoid(margin).
MARGIN_ONLY = ConfidenceModel(features=list(FEATURES), weights=[1.0, 0.0, 0.0, 0.0, 0.0], bias=0.0)


def test_the_span_with_the_widest_margin_is_the_answer_whatever_its_passage(
    open_assistant: Callable[..., Assistant],
) -> None:
    assistant = open_assistant()
    passages = assistant.search("secretariat Moscow budget treaty Tashkent", top_k=10)
    spans = [
        ReadSpan.within(passages[0], 0, 0, 3, 9.0, 8.0),
        ReadSpan.within(passages[1], 1, 0, 5, 4.0, -1.0),
    ]
    answer = answer_question("q?", passages, spans, assistant.data, shown=2, threshold=0.0, model=MARGIN_ONLY)
    assert answer.text == passages[1].text[:5]
    assert answer.citations[0].doc_id == passages[1].doc_id
    assert answer.confidence == pytest.approx(probability([5.0, 4.0, -1.0, 0.0, 0.5], MARGIN_ONLY))
    assert len(answer.passages) == 2


def test_the_citation_quotes_whole_sentences_around_the_span(open_assistant: Callable[..., Assistant]) -> None:
    assistant = open_assistant()
    passage = next(p for p in assistant.search("Where is the secretariat?", top_k=10) if "Moscow" in p.text)
    at = passage.text.index("Moscow")
    span = ReadSpan.within(passage, 0, at, at + 6, 3.0, 0.0)
    citation = cite(assistant.data, passage, span)
    doc = assistant.data.documents[passage.doc_id].text
    assert citation.quote == "The secretariat is located in Moscow & coordinates the daily work of the organisation."
    assert doc[citation.start : citation.end] == citation.quote
    assert doc[citation.answer_start : citation.answer_end] == "Moscow"  # type: ignore[misc]


def test_a_span_across_two_sentences_quotes_both(open_assistant: Callable[..., Assistant]) -> None:
    assistant = open_assistant()
    passage = next(p for p in assistant.search("treaty Tashkent observer", top_k=10) if "Tashkent" in p.text)
    first = passage.text.index("in 1992")
    last = passage.text.index("collective defence") + len("collective defence")
    span = ReadSpan.within(passage, 0, first, last, 1.0, 0.0)
    citation = cite(assistant.data, passage, span)
    assert citation.quote.startswith("The Collective Security Treaty was signed")
    assert citation.quote.endswith("collective defence of its members.")


def test_below_the_threshold_the_answer_is_withheld_but_the_passages_stay(
    open_assistant: Callable[..., Assistant],
) -> None:
    assistant = open_assistant()
    passages = assistant.search("Where is the secretariat?", top_k=3)
    span = ReadSpan.within(passages[0], 0, 0, 4, 1.0, 3.0)
    answer = answer_question("q?", passages, [span], assistant.data, shown=3, threshold=0.5, model=MARGIN_ONLY)
    assert answer.abstained and answer.text is None and answer.kind == "abstain"
    assert answer.confidence == pytest.approx(probability([-2.0, 1.0, 3.0, 0.0, 0.5], MARGIN_ONLY))
    assert "sources don't say" in answer.message and answer.passages == passages


def test_no_span_at_all_is_an_abstention(open_assistant: Callable[..., Assistant]) -> None:
    assistant = open_assistant()
    passages = assistant.search("Where is the secretariat?", top_k=3)
    answer = answer_question("q?", passages, [], assistant.data, shown=3, threshold=0.0)
    assert answer.abstained and answer.confidence == 0.0 and answer.passages == passages


def test_agreeing_passages_count_as_support() -> None:
    def span(passage: int, text: str, margin: float) -> ReadSpan:
        return ReadSpan(passage=passage, doc_id="d", start=0, end=len(text), text=text, score=margin, null_score=0.0)

    best = span(0, "Moscow", 4.0)
    spans = [best, span(1, "moscow.", 1.0), span(2, "Moscow", -1.0), span(3, "Minsk", 2.0)]
    assert features(best, spans) == [4.0, 4.0, 0.0, 1.0, 1.0]  # "-1.0" says "not here": it does not support


def test_the_shipped_confidence_names_its_features_and_trusts_the_margin() -> None:
    model = shipped()
    assert model.features == list(FEATURES) and len(model.weights) == len(FEATURES)
    assert model.weights[0] > 0, "a wider margin over 'no answer' must mean more confidence"
    assert model.fitted_on["questions"] > 500  # type: ignore[operator]


def test_asking_answers_with_the_readers_span_and_a_checkable_citation(
    open_assistant: Callable[..., Assistant],
) -> None:
    assistant = open_assistant(settings=Settings(abstain_threshold=0.0))
    answer = assistant.ask("Where is the secretariat located?")
    assert answer.text == "Moscow" and answer.kind == "span"
    c = answer.citations[0]
    doc = assistant.data.documents[c.doc_id].text
    assert (
        c.doc_id == "page.html" and doc[c.start : c.end] == c.quote and doc[c.answer_start : c.answer_end] == "Moscow"
    )  # type: ignore[misc]


def test_a_question_no_passage_answers_is_abstained(open_assistant: Callable[..., Assistant]) -> None:
    answer = open_assistant().ask("What is the boiling point of mercury?")
    assert answer.abstained and answer.text is None and answer.passages


def test_the_reader_reads_only_the_first_passages(open_assistant: Callable[..., Assistant], fake_reader) -> None:  # type: ignore[no-untyped-def]
    seen: list[int] = []
    real = fake_reader.read
    fake_reader.read = lambda question, passages: (seen.append(len(passages)), real(question, passages))[1]
    assistant = open_assistant(settings=Settings(reader_passages=2, top_k=4))
    answer = assistant.ask("Where is the secretariat located?")
    assert seen == [2] and len(answer.passages) == 4


@pytest.mark.parametrize("question", ["", "   ", "?!?", "x" * 100_000, "\x00\x07"])
def test_bad_questions_give_an_abstention_with_a_reason(
    open_assistant: Callable[..., Assistant], question: str
) -> None:
    result = open_assistant().ask(question)
    assert result.abstained and result.text is None and result.message
