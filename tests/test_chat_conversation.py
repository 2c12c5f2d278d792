"""Follow-up questions resolved against the conversation (cstoqa.chat.conversation.resolve)."""

from __future__ import annotations

import pytest

from cstoqa.chat.conversation import content_words, resolve, subject_of

CSTO = "When was the CSTO established?"


@pytest.mark.parametrize(
    ("question", "subject"),
    [
        ("When was the CSTO established?", "the CSTO"),
        (
            "When was the Collective Security Treaty Organization (CSTO) established?",
            "the Collective Security Treaty Organization",
        ),
        ("Where is the CSTO's secretariat?", "the CSTO"),
        ("What does the Collective Security Council do?", "the Collective Security Council"),
        ("When did Armenia join?", "Armenia"),
        ("When was the treaty signed?", "the treaty"),
        ("What is the purpose of the organisation?", "the organisation"),
        ("Summarize the role of peacekeeping forces", "the peacekeeping forces"),
        ("how are you", None),
        ("", None),
    ],
)
def test_subject_of(question: str, subject: str | None) -> None:
    assert subject_of(question) == subject


@pytest.mark.parametrize(
    ("previous", "question", "expected"),
    [
        ([CSTO], "Where is its secretariat?", "Where is the CSTO's secretariat?"),
        ([CSTO], "What is it?", "What is the CSTO?"),
        ([CSTO], "Its members?", "The CSTO's members?"),
        ([CSTO], "Who are their members?", "Who are the CSTO's members?"),
        ([CSTO], "How many members do these states have?", "How many members do the CSTO states have?"),
        ([CSTO], "Where is the secretariat?", "Where is the secretariat (the CSTO)?"),
        (["When did Armenia join the CSTO?"], "What about Belarus?", "When did Belarus join the CSTO?"),
        (["Where is the CSTO's secretariat?"], "And the Warsaw Pact?", "Where is the Warsaw Pact's secretariat?"),
        (["When was the treaty signed?"], "Who signed it?", "Who signed the treaty?"),
        # a chain: the subject carries over through the rewritten question
        ([CSTO, "Where is the CSTO's secretariat?"], "Who heads it?", "Who heads the CSTO?"),
        # the most recent question that names a subject wins
        (
            [CSTO, "What does the Collective Security Council do?"],
            "Who sits on it?",
            "Who sits on the Collective Security Council?",
        ),
        ([CSTO, "how are you"], "Where is its secretariat?", "Where is the CSTO's secretariat?"),
    ],
)
def test_follow_ups_are_rewritten(previous: list[str], question: str, expected: str) -> None:
    resolution = resolve(question, previous)
    assert resolution.question == expected
    assert resolution.rewritten and resolution.reason


@pytest.mark.parametrize(
    ("previous", "question"),
    [
        ([], "Where is its secretariat?"),  # nothing to refer back to
        (["how are you"], "Where is it?"),  # no subject in the conversation
        ([CSTO], "Which countries are members of the CSTO?"),  # names the subject itself
        ([CSTO], "Which states signed that treaty?"),  # "that" after a content word: relative/determiner
        ([CSTO], "What are the states that joined?"),
        ([CSTO], "Who founded the Warsaw Pact in Warsaw?"),  # self-contained
        ([CSTO], "   "),
    ],
)
def test_self_contained_questions_are_left_alone(previous: list[str], question: str) -> None:
    resolution = resolve(question, previous)
    assert resolution.question == question
    assert not resolution.rewritten


def test_content_words_ignore_question_words_and_auxiliaries() -> None:
    assert content_words("Where is the secretariat?") == ["secretariat"]
    assert content_words("What does it involve?") == []
    assert content_words("When was the CSTO established?") == ["csto", "established"]


def test_long_and_odd_input_is_left_alone() -> None:
    """Inputs that would make a backtracking pattern run for hours (the suite would never finish)."""
    for question in ["and x" + "?" * 100_000 + "y", "What about " + "it " * 30_000, "its " * 1000, "\x00\x07 its"]:
        resolution = resolve(question, [CSTO, "w" * 100_000])
        assert isinstance(resolution.question, str)
    assert resolve("and x" + "?" * 100_000, [CSTO]).question.startswith("and x")
