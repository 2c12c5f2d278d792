"""The chat page's handlers, its `ask` API through gradio_client, login, and the `cstoqa serve` command."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from typer.testing import CliRunner

from cstoqa import cli
from cstoqa.assistant import Assistant
from cstoqa.chat import render
from cstoqa.chat.feedback import FeedbackLog
from cstoqa.chat.server import ChatHandlers, auth_from_env, build_app, default_examples, launch, message_text
from cstoqa.errors import CstoqaError, IndexCorruptError
from cstoqa.settings import Settings

# The page is under test, not the answerer's calibration: answer whenever a sentence matches.
ANSWER_ALWAYS = Settings(abstain_threshold=0.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def handlers(open_assistant: Callable[..., Assistant], tmp_path: Path) -> ChatHandlers:
    return ChatHandlers(
        open_assistant(settings=ANSWER_ALWAYS), feedback=FeedbackLog(tmp_path / "data" / "feedback.jsonl")
    )


def like(index: int, liked: bool | str) -> gr.LikeData:
    return gr.LikeData(None, {"index": index, "value": ["…"], "liked": liked})


def test_respond_adds_the_question_and_a_cited_reply(handlers: ChatHandlers) -> None:
    box, history, sources, turns = handlers.respond("Where is the secretariat located?", [], [])
    assert box == ""
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[0]["content"] == "Where is the secretariat located?"
    reply = history[1]["content"]
    assert "Moscow" in reply and "\\[1\\]" in reply and "Confidence" in reply
    assert '<mark class="cstoqa-quote">' in sources and "Moscow" in sources
    assert turns == [
        {
            "index": 1,
            "question": "Where is the secretariat located?",
            "asked": "Where is the secretariat located?",
            "answer": turns[0]["answer"],
            "built_at": handlers.assistant.data.manifest.built_at,
        }
    ]
    assert turns[0]["answer"]["citations"][0]["doc_id"] == "page.html"


def test_follow_up_is_interpreted_against_the_conversation(handlers: ChatHandlers) -> None:
    _, history, _, turns = handlers.respond("Where is the secretariat located?", [], [])
    # Gradio 6 hands history back with list content; both forms must work.
    history = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in history]
    _, history, _, turns = handlers.respond("What does it coordinate?", history, turns)
    assert len(history) == 4 and message_text(history[0]) == "Where is the secretariat located?"
    assert turns[1]["asked"] == "What does the secretariat coordinate?"
    assert history[3]["content"].startswith("*Interpreted as: What does the secretariat coordinate?*")
    assert turns[1]["index"] == 3


def test_empty_input_changes_nothing(handlers: ChatHandlers) -> None:
    box, history, sources, turns = handlers.respond("  \n ", [{"role": "user", "content": "x"}], [{"asked": "x"}])
    assert (box, history, turns) == ("", [{"role": "user", "content": "x"}], [{"asked": "x"}])
    assert sources == gr.skip()


class Broken:
    """Stands in for an Assistant whose index is damaged, or whose code has a bug."""

    def __init__(self, exc: Exception, data: Any) -> None:
        self.exc, self.data = exc, data

    def ask(self, question: str) -> None:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "shown"),
    [
        (IndexCorruptError("index", "dense.faiss is missing"), "cstoqa index \\-\\-rebuild"),
        (RuntimeError("secret internals"), "an internal error stopped this answer"),
    ],
)
def test_errors_become_chat_messages_without_traceback(
    open_assistant: Callable[..., Assistant], exc: Exception, shown: str
) -> None:
    handlers = ChatHandlers(Broken(exc, open_assistant().data))  # type: ignore[arg-type]
    _, history, sources, turns = handlers.respond("When?", [], [])
    reply = history[1]["content"]
    assert reply.startswith("**Sorry, that did not work:**") and shown in reply
    assert "Traceback" not in reply and "secret internals" not in reply
    assert sources == render.EMPTY_SOURCES and turns[0]["answer"] is None
    with pytest.raises(gr.Error):
        handlers.api_ask("When?")


def test_votes_are_saved_with_question_answer_and_citations(handlers: ChatHandlers) -> None:
    _, _, _, turns = handlers.respond("Where is the secretariat located?", [], [])
    handlers.like(like(1, True), turns)
    handlers.like(like(1, False), turns)
    handlers.like(like(0, True), turns)  # a user message: not an answer, nothing written
    handlers.like(like(7, True), turns)  # stale index after "Clear chat": ignored
    rows = handlers.feedback.read()  # type: ignore[union-attr]
    assert [r["vote"] for r in rows] == ["up", "down"]
    assert rows[0]["question"] == "Where is the secretariat located?"
    assert "Moscow" in rows[0]["answer"]
    assert rows[0]["citations"][0]["doc_id"] == "page.html"


def test_reindex_and_status(handlers: ChatHandlers, small_corpus: Path) -> None:
    (small_corpus / "extra.txt").write_text("The archive holds treaty texts since 1992.", encoding="utf-8")
    status = handlers.reindex()
    assert "4 documents" in status
    assert handlers.assistant.search("archive treaty texts")[0].doc_id == "extra.txt"


def test_api_ask_returns_json_data(handlers: ChatHandlers) -> None:
    result = handlers.api_ask("What does it coordinate?", previous_question="Where is the secretariat located?")
    assert result["question"] == "What does it coordinate?"
    assert result["interpreted_as"] == "What does the secretariat coordinate?"
    assert set(result) >= {"text", "abstained", "confidence", "kind", "message", "citations", "passages"}
    assert all(set(p) == {"doc_id", "title", "section", "start", "end", "score", "text"} for p in result["passages"])
    assert handlers.api_ask("")["abstained"] is True


def test_auth_from_env() -> None:
    assert auth_from_env({}) is None
    assert auth_from_env({"CSTOQA_AUTH": "ann:pa:ss"}) == ("ann", "pa:ss")
    for bad in ("annpass", ":pass", "ann:"):
        with pytest.raises(CstoqaError, match="user:password"):
            auth_from_env({"CSTOQA_AUTH": bad})


def test_examples_only_for_the_bundled_corpus(open_assistant: Callable[..., Assistant]) -> None:
    assert default_examples(open_assistant()) == []


@pytest.fixture
def served(open_assistant: Callable[..., Assistant], tmp_path: Path) -> Iterator[tuple[str, FeedbackLog]]:
    feedback = FeedbackLog(tmp_path / "data" / "feedback.jsonl")
    demo = build_app(
        open_assistant(settings=ANSWER_ALWAYS), feedback=feedback, examples=["Where is the secretariat located?"]
    )
    _, url, _ = launch(demo, port=free_port(), auth=("ann", "pw"), block=False)
    try:
        yield url, feedback
    finally:
        demo.close()


def test_api_through_gradio_client_with_login(served: tuple[str, FeedbackLog]) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AuthenticationError

    url, _ = served
    assert url.startswith("http://127.0.0.1:")
    with pytest.raises(AuthenticationError):
        Client(url, verbose=False, analytics_enabled=False)
    client = Client(url, auth=("ann", "pw"), verbose=False, analytics_enabled=False)
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/ask"]  # the page's own events are private
    result = client.predict("Where is the secretariat located?", api_name="/ask")
    assert result["abstained"] is False and "Moscow" in result["text"]
    assert result["citations"][0]["quote"] in result["passages"][0]["text"]
    follow = client.predict(
        question="What does it coordinate?", previous_question="Where is the secretariat located?", api_name="/ask"
    )
    assert follow["interpreted_as"] == "What does the secretariat coordinate?"


def test_serve_command_passes_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []

    def fake_serve(corpus: Path, index: str, **kwargs: Any) -> None:
        calls.append({"corpus": corpus, "index": index, **kwargs})

    monkeypatch.setattr("cstoqa.chat.server.serve", fake_serve)
    env = {
        "CSTOQA_CORPUS": str(tmp_path / "c"),
        "CSTOQA_INDEX": str(tmp_path / "i"),
        "CSTOQA_DATA": str(tmp_path / "d"),
    }
    result = CliRunner().invoke(cli.app, ["serve", "--port", "7999", "--no-watch"], env=env)
    assert result.exit_code == 0, result.output
    (call,) = calls
    assert call["host"] == "127.0.0.1" and call["port"] == 7999 and call["watch"] is False
    assert (call["corpus"], call["index"], call["data"]) == (tmp_path / "c", str(tmp_path / "i"), tmp_path / "d")


def test_serve_refuses_a_malformed_login(tmp_path: Path, small_corpus: Path) -> None:
    env = {"CSTOQA_AUTH": "no-colon", "CSTOQA_CORPUS": str(small_corpus), "CSTOQA_INDEX": str(tmp_path / "i")}
    result = CliRunner().invoke(cli.app, ["serve"], env=env)
    assert isinstance(result.exception, CstoqaError)
    assert "CSTOQA_AUTH" in str(result.exception)


def test_a_busy_port_is_a_message(open_assistant: Callable[..., Assistant]) -> None:
    demo = build_app(open_assistant(), examples=[])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        with pytest.raises(CstoqaError, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
            launch(demo, port=port, block=False)
