"""Thumbs up/down written to the JSONL feedback file: content, location and what must never be in it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from cstoqa.chat.feedback import DATA_ENV, FeedbackLog, answer_summary, data_dir, vote_name
from cstoqa.errors import CstoqaError
from cstoqa.types import Answer, Citation

CITATION = Citation(
    doc_id="csto.txt",
    title="CSTO",
    section="Overview",
    start=10,
    end=40,
    quote="Established in 2002, it grew.",
    answer_start=25,
    answer_end=29,
)
ANSWER = Answer(question="q", text="2002", abstained=False, confidence=0.812345, citations=[CITATION], kind="span")


def test_record_appends_one_json_line_per_vote(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "data" / "feedback.jsonl")
    first = log.record(
        "up",
        "When was it established?",
        answer_summary(ANSWER),
        asked="When was the CSTO established?",
        index_built_at="2026-01-01T00:00:00+0000",
    )
    log.record("down", "Who?", answer_summary(ANSWER.model_copy(update={"text": None, "abstained": True})))

    lines = (tmp_path / "data" / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    row = json.loads(lines[0])
    assert row == first
    assert row["vote"] == "up"
    assert row["question"] == "When was it established?"
    assert row["asked"] == "When was the CSTO established?"
    assert row["answer"] == "2002" and row["abstained"] is False and row["confidence"] == 0.8123
    assert row["citations"] == [CITATION.model_dump(mode="json")]
    assert row["index_built_at"] == "2026-01-01T00:00:00+0000"
    assert set(row) == {
        "time",
        "vote",
        "question",
        "asked",
        "answer",
        "abstained",
        "confidence",
        "kind",
        "citations",
        "index_built_at",
    }
    second = json.loads(lines[1])
    assert second["vote"] == "down" and second["asked"] == "Who?" and second["answer"] is None
    assert log.read() == [row, second]


def test_concurrent_votes_are_all_written_whole(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    summary = answer_summary(ANSWER)
    threads = [
        threading.Thread(target=lambda i=i: [log.record("up", f"question {i} {j}", summary) for j in range(20)])
        for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = log.read()
    assert len(rows) == 160
    assert len({r["question"] for r in rows}) == 160


def test_no_secrets_in_the_feedback_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSTOQA_AUTH", "alice:s3cret-pass")
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    log.record("up", "q", answer_summary(ANSWER))
    text = log.path.read_text(encoding="utf-8")
    assert "s3cret-pass" not in text and "alice" not in text


def test_feedback_file_must_stay_out_of_corpus_and_index(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    with pytest.raises(CstoqaError, match="outside the corpus and the index"):
        FeedbackLog.in_data_dir(corpus / "data", keep_out_of=(corpus, index))
    with pytest.raises(CstoqaError, match="inside"):
        FeedbackLog(index / "feedback.jsonl", keep_out_of=(corpus, index))
    assert FeedbackLog.in_data_dir(tmp_path / "data", keep_out_of=(corpus, index)).path == (
        tmp_path / "data" / "feedback.jsonl"
    )


def test_data_dir_default_and_override() -> None:
    assert data_dir({}) == Path("data")
    assert data_dir({DATA_ENV: "/srv/cstoqa"}) == Path("/srv/cstoqa")


def test_write_failure_is_a_message(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CstoqaError, match="could not save feedback"):
        FeedbackLog(blocker / "feedback.jsonl").record("up", "q", answer_summary(ANSWER))


@pytest.mark.parametrize(
    ("liked", "name"),
    [
        (True, "up"),
        (False, "down"),
        ("Like", "up"),
        ("Dislike", "down"),
        ("", "withdrawn"),
        (None, "withdrawn"),
        ("Helpful", "Helpful"),
    ],
)
def test_vote_names(liked: object, name: str) -> None:
    assert vote_name(liked) == name
