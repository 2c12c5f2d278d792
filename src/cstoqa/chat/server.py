"""The Gradio page: chat, sources panel, status line, reindex, feedback, and an ``ask`` API endpoint.

``build_app(assistant)`` returns the ``gr.Blocks``; ``launch`` starts it with the settings the product needs
(loopback by default, no telemetry, no file serving beyond Gradio's own assets); ``serve`` does everything
``cstoqa serve`` does: open (or build) the index, start the corpus watcher, launch.

Every handler catches errors: a ``CstoqaError`` shows its message in the chat, anything else is logged on
the server and shown as a one-line apology, so a traceback never reaches the page.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.events import api as gradio_api

from cstoqa.assistant import Assistant, displayable
from cstoqa.chat import render
from cstoqa.chat.conversation import resolve
from cstoqa.chat.feedback import FeedbackLog, answer_summary, vote_name
from cstoqa.chat.watcher import CorpusWatcher, index_status
from cstoqa.errors import CstoqaError
from cstoqa.index.stores import IndexStore, open_store
from cstoqa.types import Answer

log = logging.getLogger(__name__)

# Gradio reads this when a page is built and launched: no telemetry, no version check, nothing leaves the machine.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

AUTH_ENV = "CSTOQA_AUTH"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
CONCURRENCY = 4
STATUS_EVERY_SECONDS = 2.0
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

CSTO_EXAMPLES = [
    "When was the CSTO established?",
    "Which countries are members of the CSTO?",
    "Where is the CSTO secretariat?",
    "What does the Collective Security Council do?",
    "Which states are observers?",
    "Who won the 2018 football World Cup?",
]

PLACEHOLDER = (
    "**Ask a question about the documents.**\n\n"
    "Answers are copied from the sources, with numbered citations; check each one in the Sources panel. "
    "Follow-up questions such as “Where is its secretariat?” are read against the conversation."
)


def default_examples(assistant: Assistant) -> list[str]:
    """Example questions for the bundled CSTO corpus; none for other collections."""
    return CSTO_EXAMPLES if "csto_overview.txt" in assistant.data.documents else []


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a chat message in either Gradio form: a string, or a list of {"type": "text"} parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def api_result(answer: Answer, asked: str, question: str) -> dict[str, Any]:
    """What the ``ask`` endpoint returns: the answer, its citations and the retrieved passages, as JSON."""
    result: dict[str, Any] = {"question": question, "interpreted_as": asked if asked != question else None}
    result.update(answer_summary(answer))
    result["passages"] = [
        {
            "doc_id": p.doc_id,
            "title": p.title,
            "section": p.section,
            "start": p.start,
            "end": p.end,
            "score": round(p.score, 6),
            "text": p.text,
        }
        for p in answer.passages
    ]
    return result


class ChatHandlers:
    """The page's event handlers, kept apart from the layout so that tests can call them directly."""

    def __init__(
        self, assistant: Assistant, feedback: FeedbackLog | None = None, watcher: CorpusWatcher | None = None
    ) -> None:
        self.assistant = assistant
        self.feedback = feedback
        self.watcher = watcher

    def answer(self, question: str, previous: list[str]) -> tuple[str, Answer | None, str]:
        """(question as asked, answer or None, chat Markdown) for one user question."""
        resolution = resolve(question, previous)
        asked = resolution.question
        try:
            answer = self.assistant.ask(asked)
        except CstoqaError as exc:
            return asked, None, render.error_markdown(str(exc))
        except Exception:
            log.exception("answering %r failed", asked)
            return asked, None, render.error_markdown("an internal error stopped this answer; see the server log")
        return asked, answer, render.reply_markdown(answer, asked if resolution.rewritten else None)

    def respond(
        self, message: str, history: list[dict[str, Any]] | None, turns: list[dict[str, Any]] | None
    ) -> tuple[str, list[dict[str, Any]], str | Any, list[dict[str, Any]]]:
        history, turns = list(history or []), list(turns or [])
        question = " ".join(displayable(message or "").split())
        if not question:
            return "", history, gr.skip(), turns
        asked, answer, reply = self.answer(question, [t["asked"] for t in turns])
        data = self.assistant.data  # after ask: the index the answer most likely came from
        history += [
            {"role": "user", "content": render.md_escape(question)},
            {"role": "assistant", "content": reply},
        ]
        turns.append(
            {
                "index": len(history) - 1,
                "question": question,
                "asked": asked,
                "answer": answer_summary(answer) if answer else None,
                "built_at": data.manifest.built_at,
            }
        )
        sources = render.sources_html(answer, data) if answer else render.EMPTY_SOURCES
        return "", history, sources, turns

    def like(self, data: gr.LikeData, turns: list[dict[str, Any]] | None) -> None:
        index = data.index[0] if isinstance(data.index, list | tuple) else data.index
        turn = next((t for t in turns or [] if t["index"] == index), None)
        if turn is None or turn["answer"] is None or self.feedback is None:
            return
        try:
            self.feedback.record(
                vote_name(data.liked), turn["question"], turn["answer"], turn["asked"], turn["built_at"]
            )
        except CstoqaError as exc:
            gr.Warning(str(exc))
            return
        if vote_name(data.liked) in ("up", "down"):
            gr.Info("Thank you: your feedback was saved.")

    def reindex(self) -> str:
        try:
            report = self.watcher.reindex(reason="button") if self.watcher else self.assistant.reindex()
        except CstoqaError as exc:
            gr.Warning(f"Reindex failed: {exc}")
        except Exception:
            log.exception("reindex failed")
            gr.Warning("Reindex failed with an internal error; see the server log.")
        else:
            gr.Info(render.report_markdown(report))
        return self.status()

    def status(self) -> str:
        return render.status_markdown(index_status(self.assistant, self.watcher))

    def api_ask(self, question: str, previous_question: str = "") -> dict[str, Any]:
        """Answer a question from the documents, with citations, or say the sources don't.

        Pass the previous question as ``previous_question`` to resolve follow-ups such as "Where is its
        secretariat?". Returns a dict: text, abstained, confidence, kind, message, interpreted_as,
        citations (doc_id, title, section, start, end, quote, answer_start, answer_end) and passages.
        """
        question = displayable(question) if isinstance(question, str) else ""
        previous = [displayable(previous_question)] if isinstance(previous_question, str) else []
        resolution = resolve(question, previous)
        try:
            answer = self.assistant.ask(resolution.question)
        except CstoqaError as exc:
            raise gr.Error(str(exc)) from None
        except Exception:
            log.exception("API question %r failed", resolution.question)
            raise gr.Error("an internal error stopped this answer; see the server log") from None
        return api_result(answer, resolution.question, question)


def build_app(
    assistant: Assistant,
    feedback: FeedbackLog | None = None,
    watcher: CorpusWatcher | None = None,
    examples: list[str] | None = None,
    status_every: float = STATUS_EVERY_SECONDS,
) -> gr.Blocks:
    handlers = ChatHandlers(assistant, feedback, watcher)
    examples = default_examples(assistant) if examples is None else examples
    page = gr.Blocks(title="cstoqa — ask the documents", analytics_enabled=False)
    with page:
        gr.Markdown(
            "## Ask the documents\nShort answers copied from the sources, each with numbered citations you can "
            "check in the Sources panel — or a plain “the sources don't say”.",
            elem_id="cstoqa-intro",
        )
        turns = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chat = gr.Chatbot(
                    label="Chat",
                    elem_id="cstoqa-chat",
                    height=520,
                    latex_delimiters=[],
                    buttons=["copy"],
                    placeholder=PLACEHOLDER,
                    feedback_options=("Like", "Dislike"),
                )
                box = gr.Textbox(
                    placeholder="Ask a question, e.g. When was the CSTO established?",
                    show_label=False,
                    elem_id="cstoqa-question",
                    max_lines=4,
                    autofocus=True,
                )
                with gr.Row():
                    send = gr.Button("Ask", variant="primary", elem_id="cstoqa-ask")
                    clear = gr.Button("Clear chat", elem_id="cstoqa-clear")
                    reindex = gr.Button("Reindex", elem_id="cstoqa-reindex")
                if examples:
                    gr.Examples(examples=[[q] for q in examples], inputs=[box], label="Example questions")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(render.EMPTY_SOURCES, elem_id="cstoqa-sources", js_on_load=None)
                status = gr.Markdown(handlers.status(), elem_id="cstoqa-status")

        outputs = [box, chat, sources, turns]
        for trigger in (box.submit, send.click):
            trigger(
                handlers.respond,
                [box, chat, turns],
                outputs,
                api_visibility="private",
                show_progress="minimal",
            )
        chat.like(handlers.like, [turns], None, api_visibility="private")
        clear.click(lambda: ("", [], render.EMPTY_SOURCES, []), None, outputs, api_visibility="private")
        chat.clear(lambda: (render.EMPTY_SOURCES, []), None, [sources, turns], api_visibility="private")
        reindex.click(handlers.reindex, None, status, api_visibility="private", concurrency_limit=1)
        timer = gr.Timer(status_every)
        timer.tick(handlers.status, None, status, api_visibility="private", show_progress="hidden")
        page.load(handlers.status, None, status, api_visibility="private", show_progress="hidden")
        gradio_api(handlers.api_ask, api_name="ask")
    return page


def auth_from_env(env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """Login for the page from ``CSTOQA_AUTH="user:password"``; None when unset."""
    value = (os.environ if env is None else env).get(AUTH_ENV, "")
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user.strip() or not password:
        raise CstoqaError(f'{AUTH_ENV} must look like "user:password" (the password after the first colon)')
    return user.strip(), password


def launch(
    demo: gr.Blocks,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    auth: tuple[str, str] | None = None,
    block: bool = True,
    blocked_paths: tuple[Path, ...] = (),
) -> tuple[Any, str, str | None]:
    """Start the page; with ``block=False`` return (fastapi app, local URL, None) and keep serving in a thread."""
    demo.queue(default_concurrency_limit=CONCURRENCY)
    try:
        return demo.launch(
            server_name=host,
            server_port=port,
            auth=auth,
            auth_message="Log in to ask the documents." if auth else None,
            share=False,
            prevent_thread_lock=not block,
            quiet=True,
            show_error=False,
            css=render.SOURCES_CSS,
            footer_links=["api"],
            blocked_paths=[str(p.resolve()) for p in blocked_paths],
            max_file_size="1mb",
            ssr_mode=False,
            mcp_server=False,
            pwa=False,
            enable_monitoring=False,
        )
    except OSError as exc:
        raise CstoqaError(f"cannot listen on {host}:{port} ({exc}); choose another with --port") from exc


def serve(
    corpus: Path,
    index: str | os.PathLike[str] | IndexStore,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    data: Path | None = None,
    watch: bool = True,
    assistant: Assistant | None = None,
    echo: Any = print,
) -> None:
    """Open (or build) the index, watch the corpus, serve the page until interrupted."""
    auth = auth_from_env()
    store = open_store(index)
    local = (store.local_path,) if store.local_path else ()
    feedback = FeedbackLog.in_data_dir(data, keep_out_of=(corpus, *local))
    if assistant is None:
        echo(f"opening the index in {store.describe()} (built from {corpus} on first run; this can take a minute)…")
        assistant = Assistant.open(corpus_dir=corpus, index_dir=store)
    watcher = CorpusWatcher(assistant, ignore=(feedback.path.parent,)).start() if watch else None
    try:
        demo = build_app(assistant, feedback=feedback, watcher=watcher)
        _, url, _ = launch(
            demo,
            host,
            port,
            auth,
            block=False,
            blocked_paths=(*(p.resolve() for p in local), feedback.path.parent.resolve()),
        )
        if host not in LOOPBACK and auth is None:
            echo(f"warning: serving on {host} without a login; set {AUTH_ENV}=user:password to require one")
        status = index_status(assistant, watcher)
        echo(
            f"cstoqa chat page on {url} — {render.plural(status.documents, 'document')}, "
            f"{render.plural(status.chunks, 'passage')}"
            f"{'; login required' if auth else ''}; feedback goes to {feedback.path}; press Ctrl+C to stop"
        )
        _wait_until_stopped(demo)
        echo("stopped")
    finally:
        if watcher is not None:
            watcher.stop()


def _wait_until_stopped(demo: gr.Blocks) -> None:
    """Serve until Ctrl+C or SIGTERM, then close the server."""

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        while demo.is_running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        demo.close()
