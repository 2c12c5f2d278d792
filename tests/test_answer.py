"""The answerer: question typing, span candidates, calibration, and answers end to end on three documents."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cstoqa.analysis import words
from cstoqa.answer import calibration
from cstoqa.answer.calibration import Features, confidence
from cstoqa.answer.question_type import AnswerType, answer_type, is_plural_ask
from cstoqa.answer.sentence_scoring import typed
from cstoqa.answer.spans import _antecedent, _coordinations, _near, _repeated
from cstoqa.evaluation.calibrate import _best_first, _listwise
from cstoqa.settings import Settings
from cstoqa.types import Sentence, Span


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("When was the treaty signed?", AnswerType.DATE),
        ("In what year did the war end?", AnswerType.DATE),
        ("How many member states are there?", AnswerType.NUMBER),
        ("Who founded the company?", AnswerType.PERSON),
        ("Where is the secretariat located?", AnswerType.PLACE),
        ("Which countries are observer states?", AnswerType.PLACE),
        ("What is the capital of France?", AnswerType.PLACE),
        ("Which organization runs the program?", AnswerType.ORGANIZATION),
        ("What type of organization is it?", AnswerType.ENTITY),
        ("What is the main goal of the alliance?", AnswerType.ENTITY),
        ("Why did the alliance expand?", AnswerType.DESCRIPTION),
        ("How does the council make decisions?", AnswerType.DESCRIPTION),
        ("What criticisms have been raised?", AnswerType.DESCRIPTION),
        ("Explain the funding model", AnswerType.DESCRIPTION),
    ],
)
def test_answer_type(question: str, expected: AnswerType) -> None:
    assert answer_type(question) is expected


def test_plural_ask() -> None:
    assert is_plural_ask("Which countries are members?")
    assert is_plural_ask("What are the key aspects?")
    assert not is_plural_ask("When was it founded?")
    assert is_plural_ask("Which security threats was it set up to meet?")
    assert is_plural_ask("List the founding members.")
    assert not is_plural_ask("What is the highest decision-making body?")
    assert not is_plural_ask("What type of organization is it?")
    assert not is_plural_ask("Which status does Serbia have?")


def test_coordinated_entities_become_one_list_span() -> None:
    text = "The members are Armenia, Belarus, and Russia today."
    spans = [
        Span(start=text.index(name), end=text.index(name) + len(name), label="GPE")
        for name in ("Armenia", "Belarus", "Russia")
    ]
    runs = _coordinations(spans, text, 0)
    assert [text[s.start : s.end] for s in runs] == ["Armenia, Belarus, and Russia"]


def test_spans_not_joined_across_other_words() -> None:
    text = "Armenia joined first while Russia led."
    spans = [Span(start=0, end=7, label="GPE"), Span(start=27, end=33, label="GPE")]
    assert _coordinations(spans, text, 0) == []


def test_confidence_is_a_probability_that_rises_with_evidence() -> None:
    weak = Features(0.1, 0.0, 0.1, 0.8, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0)
    strong = Features(0.8, 1.0, 0.7, 0.0, 1.0, 0.0, 0.0, 1.0, 0.9, 0.0, 0.0)
    assert 0.0 <= confidence(weak) < confidence(strong) <= 1.0


def test_calibration_file_names_every_feature_and_a_threshold() -> None:
    model = calibration.coefficients()
    assert set(model["weights"]) == set(Features.names())
    assert all(math.isfinite(w) for w in model["weights"].values())
    assert 0.0 < model["threshold"] < 1.0
    assert Settings().abstain_threshold == model["threshold"]


DOCS = {
    "acme.txt": "Acme Corporation\n\nAcme Corporation was founded in 1998 in Lyon by Marie Dupont. "
    "The company makes bicycles and scooters for city riders.\n",
    "rivers.md": "# Rivers of France\n\nThe Loire is the longest river in France. "
    "It rises in the Massif Central and flows into the Atlantic Ocean.\n",
    "birds.html": "<html><head><title>Birds</title></head><body><h1>Migratory birds</h1>"
    "<p>The Arctic tern migrates farther than any other bird, about 70,000 kilometres a year.</p></body></html>",
}


@pytest.fixture
def three_docs(tmp_path: Path, fake_embedder):  # type: ignore[no-untyped-def]
    """Three small documents, annotated with the real spaCy pipeline; embeddings from the fake embedder."""
    from cstoqa.assistant import Assistant

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return Assistant.open(corpus_dir=corpus, index_dir=tmp_path / "index", settings=Settings(), embedder=fake_embedder)


@pytest.fixture
def answering(three_docs):  # type: ignore[no-untyped-def]
    """The same assistant with abstention off, to test what it extracts whatever its confidence."""
    three_docs.settings = three_docs.settings.model_copy(update={"abstain_threshold": 0.0})
    return three_docs


@pytest.mark.parametrize(
    ("question", "answer", "doc_id"),
    [
        ("When was Acme Corporation founded?", "1998", "acme.txt"),
        ("Who founded Acme Corporation?", "Marie Dupont", "acme.txt"),
        ("How far does the Arctic tern migrate each year?", "about 70,000 kilometres", "birds.html"),
    ],
)
def test_factoid_answer_is_a_cited_span(answering, question: str, answer: str, doc_id: str) -> None:  # type: ignore[no-untyped-def]
    result = answering.ask(question)
    assert not result.abstained
    assert result.text == answer
    first = result.citations[0]
    doc = answering.data.documents[doc_id]
    assert first.doc_id == doc_id
    assert doc.text[first.start : first.end] == first.quote
    assert doc.text[first.answer_start : first.answer_end] == answer
    assert first.start <= first.answer_start < first.answer_end <= first.end


def test_a_sentence_opening_with_it_is_read_and_quoted_with_the_sentence_it_refers_to(answering) -> None:  # type: ignore[no-untyped-def]
    result = answering.ask("Where does the Loire rise?")
    assert result.text == "the Massif Central"
    first = result.citations[0]
    assert first.quote.startswith("The Loire is the longest river in France. It rises")
    assert answering.data.documents[first.doc_id].text[first.start : first.end] == first.quote


def test_descriptive_answer_is_cited_sentences(answering) -> None:  # type: ignore[no-untyped-def]
    result = answering.ask("Why is the Arctic tern remarkable among birds?")
    assert not result.abstained
    assert result.kind == "sentences"
    assert "migrates farther than any other bird" in (result.text or "")
    for citation in result.citations:
        assert answering.data.documents[citation.doc_id].text[citation.start : citation.end] == citation.quote
        assert citation.quote in (result.text or "")


@pytest.mark.parametrize(
    "question",
    ["What is the boiling point of mercury?", "Who painted the Mona Lisa?", "How many moons does Jupiter have?"],
)
def test_questions_the_sources_do_not_answer_are_abstained(three_docs, question: str) -> None:  # type: ignore[no-untyped-def]
    result = three_docs.ask(question)
    assert result.abstained
    assert result.text is None
    assert "sources don't say" in result.message
    assert result.passages, "the closest passages are still shown"


@pytest.mark.parametrize("question", ["", "   ", "?!?", "x" * 100_000, "\x00\x07"])
def test_bad_questions_give_an_abstention_with_a_reason(three_docs, question: str) -> None:  # type: ignore[no-untyped-def]
    result = three_docs.ask(question)
    assert result.abstained and result.text is None
    assert result.message


def test_an_overlapping_noun_chunk_does_not_break_a_run_of_entities() -> None:
    text = "It has three members, namely Armenia, Belarus and Russia."
    names = ("Armenia", "Belarus", "Russia")
    ents = [Span(start=text.index(n), end=text.index(n) + len(n), label="GPE") for n in names]
    namely = Span(start=text.index("namely"), end=text.index("Armenia") + len("Armenia"), label="NP")
    runs = _coordinations([*ents, namely], text, 0)
    assert ("Armenia, Belarus and Russia", "GPE") in [(text[s.start : s.end], s.label) for s in runs]


def _span(text: str, part: str, label: str, offset: int = 0) -> Span:
    start = text.index(part)
    return Span(start=offset + start, end=offset + start + len(part), label=label)


def test_a_spelled_out_acronym_repeats_the_question() -> None:
    question = {w.stem for w in words("When was the CSTO founded?")}
    full = "the Collective Security Treaty Organization"
    other = "the Collective Security Council"
    assert _repeated(full, words(full), 0, question) == 1.0
    assert _repeated(other, words(other), 0, question) == 0.0


def test_more_question_words_next_to_a_span_score_higher() -> None:
    text = "There are two observer states, Afghanistan and Serbia, and six member states, namely Armenia and Russia."
    question = {w.stem for w in words("What are the member states?")}
    sentence_words = words(text)
    observers = _span(text, "Afghanistan and Serbia", "GPE")
    members = _span(text, "Armenia and Russia", "GPE")
    assert _near(members.start, members.end, sentence_words, question)[0] == 1.0
    assert _near(observers.start, observers.end, sentence_words, question)[0] == 0.5


def test_a_demonstrative_opening_points_back_to_the_span_with_the_same_head() -> None:
    first = "At its core lies the Supreme Council, where each member sends its head of state."
    second = "This council serves as the highest decision-making body."
    offset = len(first) + 1
    sentences = [
        Sentence(
            doc_id="d",
            section="s",
            start=0,
            end=len(first),
            text=first,
            spans=[_span(first, "its core", "NP"), _span(first, "the Supreme Council", "ORG")],
        ),
        Sentence(
            doc_id="d",
            section="s",
            start=offset,
            end=offset + len(second),
            text=second,
            spans=[_span(second, "This council", "NP", offset), _span(second, "the highest", "NP", offset)],
        ),
    ]
    text = f"{first} {second}"
    anaphor, antecedent = _antecedent(1, sentences) or (None, None)
    assert anaphor is not None and antecedent is not None
    assert text[anaphor.start : anaphor.end] == "This council"
    assert (text[antecedent.start : antecedent.end], antecedent.label) == ("the Supreme Council", "ORG")
    assert _antecedent(0, sentences) is None
    elsewhere = [sentences[0].model_copy(update={"section": "other"}), sentences[1]]
    assert _antecedent(1, elsewhere) is None


def test_sentences_with_a_span_of_the_asked_type_are_marked() -> None:
    text = "The alliance was founded in 2002 by six states."
    sentence = Sentence(doc_id="d", section="s", start=0, end=len(text), text=text, spans=[_span(text, "2002", "DATE")])
    assert typed(sentence, AnswerType.DATE) == 1.0
    assert typed(sentence, AnswerType.PERSON) == 0.0
    assert typed(sentence, AnswerType.DESCRIPTION) == 0.0


def _ranking_groups() -> list[tuple[np.ndarray, np.ndarray]]:
    """Each question: the right candidate has the higher second feature but a lower first one."""
    rng = np.random.default_rng(0)
    groups = []
    for _ in range(40):
        wrong = np.column_stack([rng.uniform(0.5, 1.0, 4), rng.uniform(0.0, 0.4, 4)])
        right = np.array([[rng.uniform(0.3, 0.6), rng.uniform(0.6, 1.0)]])
        groups.append((np.vstack([wrong, right]), np.array([False] * 4 + [True])))
    return groups


def test_listwise_fit_ranks_the_right_candidate_first() -> None:
    groups = _ranking_groups()
    weights = _listwise(groups)
    assert weights[1] > 0 and weights[1] > weights[0]
    assert all(labels[int(np.argmax(x @ weights))] for x, labels in groups)


def test_grid_fit_picks_weights_that_put_the_right_candidate_first() -> None:
    groups = _ranking_groups()
    weights = _best_first(groups, [np.arange(0.0, 3.01, 0.5)])
    assert weights[0] == 1.0 and weights[1] >= 1.5
    assert all(labels[int(np.argmax(x @ weights))] for x, labels in groups)


def test_an_answer_in_the_sentence_before_a_demonstrative_is_found_and_both_are_quoted(
    tmp_path: Path, fake_embedder
) -> None:  # type: ignore[no-untyped-def]
    from cstoqa.assistant import Assistant

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text = (
        "The Northern Alliance\n\nAt its core lies the Supreme Council, where each member sends its head of state. "
        "This council serves as the highest decision-making body of the alliance.\n"
    )
    (corpus / "alliance.txt").write_text(text, encoding="utf-8")
    settings = Settings(abstain_threshold=0.0)
    assistant = Assistant.open(
        corpus_dir=corpus, index_dir=tmp_path / "index", settings=settings, embedder=fake_embedder
    )
    result = assistant.ask("Which council is the highest decision-making body of the alliance?")
    assert result.text == "the Supreme Council"
    first = result.citations[0]
    assert first.quote.startswith("At its core lies the Supreme Council")
    assert first.quote.endswith("highest decision-making body of the alliance.")
    stored = assistant.data.documents[first.doc_id].text
    assert stored[first.start : first.end] == first.quote
    assert stored[first.answer_start : first.answer_end] == "the Supreme Council"
    untyped = assistant.ask("Why does this council serve as the highest body?")
    assert untyped.kind == "sentences"
    assert untyped.citations[0].quote.startswith("At its core"), (
        "a sentence opening with 'This' is quoted with its antecedent"
    )


def test_a_sentence_ending_in_a_colon_is_answered_with_the_list_it_introduces(tmp_path: Path, fake_embedder) -> None:  # type: ignore[no-untyped-def]
    from cstoqa.assistant import Assistant

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text = (
        "Treaty Practice\n\nThe key aspects of the treaty practice include:\n\n"
        "  1. Legal Framework: The treaty sets the rules. They bind every member.\n\n"
        "  2. Review Cycle: Members review threats each year.\n\n"
        "Practice matters to every member state.\n"
    )
    (corpus / "practice.txt").write_text(text, encoding="utf-8")
    assistant = Assistant.open(
        corpus_dir=corpus,
        index_dir=tmp_path / "index",
        settings=Settings(abstain_threshold=0.0),
        embedder=fake_embedder,
    )
    result = assistant.ask("What are the key aspects of the treaty practice?")
    quotes = [c.quote for c in result.citations]
    assert quotes == [
        "The key aspects of the treaty practice include:",
        "Legal Framework: The treaty sets the rules.",
        "Review Cycle: Members review threats each year.",
    ]
    stored = assistant.data.documents["practice.txt"].text
    assert all(stored[c.start : c.end] == c.quote for c in result.citations)
