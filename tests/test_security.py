"""Security of the chat server: loopback by default, login from CSTOQA_AUTH, hostile documents shown as text,
no file served beyond the page's own assets, and no secret in feedback, logs or pages.

The server runs in this process through ``cstoqa.chat.server.serve`` (what ``cstoqa serve`` runs), on
127.0.0.1 and a free port, with the fake embedder.
"""

from __future__ import annotations

import http.client
import inspect
import logging
import os
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import gradio as gr
import pytest

from cstoqa.assistant import Assistant
from cstoqa.chat import server
from cstoqa.chat.feedback import FeedbackLog
from cstoqa.chat.server import ChatHandlers
from cstoqa.index import store
from cstoqa.settings import Settings
from support import FakeEmbedder, FakeReader, free_port

ANSWER_ALWAYS = Settings(abstain_threshold=0.0)
SECRET = f"Tr0ub4dor-{uuid.uuid4().hex}"


@dataclass
class Served:
    url: str
    port: int
    demo: gr.Blocks
    assistant: Assistant
    messages: list[str] = field(default_factory=list)


@pytest.fixture
def serve_in_thread(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``serve_in_thread(corpus, auth=None)`` runs ``serve`` from the project folder layout (cwd holds corpus/,
    index/ and data/), as a user would, and returns once the page is up; every server is closed afterwards."""
    started: list[tuple[Served, threading.Thread]] = []

    def start(corpus: Path, auth: str | None = None) -> Served:
        monkeypatch.chdir(tmp_path)
        if auth is None:
            monkeypatch.delenv("CSTOQA_AUTH", raising=False)
        else:
            monkeypatch.setenv("CSTOQA_AUTH", auth)
        assistant = Assistant.open(corpus, tmp_path / "index", ANSWER_ALWAYS, FakeEmbedder(), reader=FakeReader())
        demos: list[gr.Blocks] = []
        real_build_app = server.build_app

        def build_app(*args: object, **kwargs: object) -> gr.Blocks:  # keep the page, to close it afterwards
            demos.append(real_build_app(*args, **kwargs))  # type: ignore[arg-type]
            return demos[-1]

        monkeypatch.setattr(server, "build_app", build_app)
        port = free_port()
        messages: list[str] = []
        thread = threading.Thread(
            target=server.serve,
            args=(corpus, tmp_path / "index"),
            kwargs={
                "port": port,
                "data": tmp_path / "data",
                "watch": False,
                "assistant": assistant,
                "echo": messages.append,
            },
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + 60
        while not any("chat page on" in m for m in messages):
            assert thread.is_alive() and time.monotonic() < deadline, messages
            time.sleep(0.05)
        served = Served(f"http://127.0.0.1:{port}/", port, demos[0], assistant, messages)
        started.append((served, thread))
        return served

    yield start
    for served, thread in started:
        served.demo.close()
        thread.join(timeout=30)
        assert served.messages[-1] == "stopped"


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """A raw GET, the path sent exactly as written (no client-side normalisation of ``..`` or escapes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def listening_addresses(port: int) -> list[str]:
    """Local addresses of listening TCP sockets on ``port``, from /proc/net/tcp{,6} (hex, as the kernel has them)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, port_hex = local.rsplit(":", 1)
                if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                    found.append(address)
    return found


# --- loopback and login ---------------------------------------------------------------------------------


def test_the_server_listens_on_loopback_only_by_default(
    serve_in_thread: Callable[..., Served], small_corpus: Path
) -> None:
    for fn in (server.launch, server.serve):
        assert inspect.signature(fn).parameters["host"].default == "127.0.0.1"
    served = serve_in_thread(small_corpus)
    assert served.url.startswith("http://127.0.0.1:")
    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("no /proc/net/tcp to read listening sockets from")
    assert listening_addresses(served.port) == ["0100007F"]  # 127.0.0.1, and nothing on 0.0.0.0 or ::


def test_serving_beyond_loopback_without_a_login_warns(
    monkeypatch: pytest.MonkeyPatch, open_assistant: Callable[..., Assistant], tmp_path: Path, small_corpus: Path
) -> None:
    """Nothing is bound to a non-loopback address here: launch is replaced by a stub."""
    monkeypatch.setattr(server, "launch", lambda demo, host, *a, **k: (None, f"http://{host}:7860/", None))
    monkeypatch.setattr(server, "_wait_until_stopped", lambda demo: None)
    assistant = open_assistant()
    for auth, warned in ((None, True), (f"ann:{SECRET}", False)):
        if auth:
            monkeypatch.setenv("CSTOQA_AUTH", auth)
        else:
            monkeypatch.delenv("CSTOQA_AUTH", raising=False)
        messages: list[str] = []
        server.serve(
            small_corpus,
            tmp_path / "index",
            host="0.0.0.0",
            data=tmp_path / "data",
            watch=False,
            assistant=assistant,
            echo=messages.append,
        )
        warning = "warning: serving on 0.0.0.0 without a login; set CSTOQA_AUTH=user:password to require one"
        assert (warning in messages) == warned
        assert ("login required" in " ".join(messages)) == (not warned)
        assert SECRET not in " ".join(messages)


def test_login_from_cstoqa_auth_is_required_and_no_secret_leaks(
    serve_in_thread: Callable[..., Served],
    small_corpus: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AuthenticationError

    caplog.set_level(logging.DEBUG)
    served = serve_in_thread(small_corpus, auth=f"ann:{SECRET}")
    assert any("login required" in m for m in served.messages)

    with pytest.raises(AuthenticationError):
        Client(served.url, verbose=False, analytics_enabled=False)
    for wrong in (("ann", "wrong"), ("bob", SECRET), ("ann", SECRET[:-1])):
        with pytest.raises(ValueError, match="Could not login"):
            Client(served.url, auth=wrong, verbose=False, analytics_enabled=False)
    for path in ("/config", "/gradio_api/info"):
        assert get(served.port, path)[0] == 401

    client = Client(served.url, auth=("ann", SECRET), verbose=False, analytics_enabled=False)
    result = client.predict("Where is the secretariat located?", api_name="/ask")
    assert result["passages"][0]["doc_id"] == "page.html"

    import httpx

    with httpx.Client(base_url=served.url) as browser:  # what a browser sees after logging in
        assert browser.post("/login", data={"username": "ann", "password": SECRET}).status_code == 200
        pages = [browser.get(p) for p in ("/", "/config", "/gradio_api/info")]
        assert [p.status_code for p in pages] == [200, 200, 200]
        assert all(SECRET not in p.text for p in pages)

    # votes on answers, with the secret in the environment
    feedback = FeedbackLog.in_data_dir(tmp_path / "data")
    handlers = ChatHandlers(served.assistant, feedback=feedback)
    _, _, _, turns = handlers.respond("Where is the secretariat located?", [], [])
    for liked in (True, False):
        handlers.like(gr.LikeData(None, {"index": 1, "value": ["…"], "liked": liked}), turns)
    rows = feedback.read()
    assert [r["vote"] for r in rows] == ["up", "down"]
    assert all(
        set(r)
        == {
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
        for r in rows
    )

    out, err = capfd.readouterr()
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    for place, text in {
        "feedback": feedback.path.read_text(encoding="utf-8"),
        "log records": caplog.text,
        "stdout": out,
        "stderr": err,
        "messages": "\n".join(served.messages),
    }.items():
        assert SECRET not in text, place


# --- hostile documents ------------------------------------------------------------------------------------

HOSTILE_NAME = "<img src=x onerror=alert(2)>.txt"
HOSTILE = {
    "alarm.md": "# Alarm <script>alert(1)</script>\n\n"
    "The alarm code is kept at <script>alert(1)</script><img src=x onerror=alert(1)> in the vault, "
    "see [the manual](javascript:alert(3)) and ![a picture](http://example.invalid/x.png).\n",
    HOSTILE_NAME: "Vault Hours\n\nThe vault opens at <b onmouseover=alert(4)>dawn</b> every working day.\n",
    "escaped.html": "<html><body><h2>Sirens</h2><p>The siren sounds when &lt;script&gt;alert(5)&lt;/script&gt; "
    "is typed.</p></body></html>",
}
QUESTIONS = [
    "Where is the alarm code kept?",
    "When does the vault open?",
    "When does the siren sound?",
    "<script>alert(6)</script> <img src=x onerror=alert(6)> where is the alarm code?",
]
SAFE_TAGS = {"div", "details", "summary", "span", "mark", "strong", "p"}


class Tags(HTMLParser):
    """The tags of some markup, and its text as a browser would show it."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture
def hostile_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in HOSTILE.items():
        (corpus / name).write_text(text, encoding="utf-8")
    (corpus / "<script>alert(7)<").mkdir()
    (corpus / "<script>alert(7)<" / "broken.pdf").write_bytes(b"%PDF-1.4 not really")  # a skipped file's name
    return corpus


def assert_shown_as_text(markup: str, markdown: bool = False) -> str:
    """Only the page's own harmless tags, no link, image or handler can form; returns the text a reader sees.

    Chat messages are Markdown, where ``[text](javascript:…)`` would be a link; the sources panel is HTML.
    """
    parsed = Tags()
    parsed.feed(markup)
    parsed.close()
    assert {tag for tag, _ in parsed.tags} <= SAFE_TAGS, parsed.tags
    assert not any(a.startswith("on") or a in {"src", "href", "style"} for _, attrs in parsed.tags for a in attrs)
    assert "<script" not in markup and "<img" not in markup and "<b " not in markup
    if markdown:
        assert "](javascript" not in markup and "](http" not in markup
    return "".join(parsed.text)


def test_hostile_documents_are_shown_as_text_on_the_page_and_as_data_by_the_api(
    serve_in_thread: Callable[..., Served], hostile_corpus: Path
) -> None:
    from gradio_client import Client

    served = serve_in_thread(hostile_corpus)
    documents = served.assistant.data.documents
    assert "<script>alert(1)</script><img src=x onerror=alert(1)>" in documents["alarm.md"].text
    assert "<script>alert(5)</script>" in documents["escaped.html"].text
    assert HOSTILE_NAME in documents

    handlers = ChatHandlers(served.assistant)
    shown: set[str] = set()
    seen = ""
    for question in QUESTIONS:
        answer = served.assistant.ask(question)
        shown |= {p.doc_id for p in answer.passages} | {c.doc_id for c in answer.citations}
        _, history, sources, _ = handlers.respond(question, [], [])
        for message in history:
            assert_shown_as_text(message["content"], markdown=True)
        seen += assert_shown_as_text(sources)
    assert shown == set(HOSTILE)  # every hostile document reached the page above
    for hostile in ("<script>alert(1)</script><img src=x onerror=alert(1)>", HOSTILE_NAME, "<script>alert(5)</script>"):
        assert hostile in seen  # shown, as the text it is
    assert_shown_as_text(handlers.reindex(), markdown=True)  # the status after skipping a file with a hostile name

    chatbot = next(c for c in served.demo.config["components"] if c["type"] == "chatbot")
    assert chatbot["props"]["sanitize_html"] is True  # and Gradio sanitises the chat's HTML on top

    client = Client(served.url, verbose=False, analytics_enabled=False)
    result = client.predict(QUESTIONS[0], api_name="/ask")  # the API returns the text itself, as data
    passage = result["passages"][0]
    assert passage["doc_id"] == "alarm.md" and "<script>alert(1)</script><img src=x" in passage["text"]
    for item in [passage, *result["citations"]]:
        text = item.get("quote", item.get("text"))
        assert documents[item["doc_id"]].text[item["start"] : item["end"]] == text


# --- no file served beyond the page's own ------------------------------------------------------------------


def test_no_file_is_served_outside_the_page_assets(
    serve_in_thread: Callable[..., Served], small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sentinel = f"sentinel-{uuid.uuid4().hex}"
    monkeypatch.setenv("CSTOQA_TEST_SENTINEL", sentinel)  # visible in /proc/self/environ if that were served
    served = serve_in_thread(small_corpus)
    feedback = FeedbackLog.in_data_dir(tmp_path / "data")
    feedback.record("up", "feedback-marker-question", {"text": "x", "citations": []})
    manifest = (tmp_path / "index" / "current" / store.MANIFEST).resolve()
    fingerprint = store.read_manifest(tmp_path / "index").fingerprint
    secrets = {
        "/etc/passwd": b"root:x:0:0",
        "corpus file": b"signed in Tashkent in 1992",
        "index manifest": fingerprint.encode(),
        "index chunks": b'"chunk_id"',
        "feedback": b"feedback-marker-question",
        "environment": sentinel.encode(),
    }
    targets = [
        "../../etc/passwd",
        "../../../../../../../../etc/passwd",
        "/etc/passwd",
        "/proc/self/environ",
        str(small_corpus / "guide.txt"),
        "corpus/guide.txt",
        "./corpus/guide.txt",
        "corpus/../corpus/guide.txt",
        str(manifest),
        "index/current/manifest.json",
        "index/current/chunks.jsonl",
        str(feedback.path),
        "data/feedback.jsonl",
    ]
    quoted = [urllib.parse.quote(t, safe="") for t in targets]
    doubly = [urllib.parse.quote(q, safe="") for q in quoted]
    paths = [f"{route}{t}" for route in ("/file=", "/gradio_api/file=") for t in [*targets, *quoted, *doubly]]
    paths += [
        "/gradio_api/file=..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/gradio_api/file=%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/gradio_api/file=....//....//....//etc/passwd",
        "/gradio_api/file=..\\..\\..\\etc\\passwd",
        "/static/../../../../../../etc/passwd",
        "/assets/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/gradio_api/static/..%2f..%2f..%2f..%2fetc/passwd",
        "/favicon.ico/../../../../etc/passwd",
        "/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/gradio_api/proxy=file:///etc/passwd",
        f"/gradio_api/proxy=http://127.0.0.1:{served.port}/gradio_api/file=/etc/passwd",
        "/gradio_api/custom_component/x/../../../../../etc/passwd/js/index.js",
        "/corpus/guide.txt",
        "/index/current/manifest.json",
        "/data/feedback.jsonl",
    ]
    assert get(served.port, "/")[0] == 200  # the server is up and answering GETs
    served_anything = []
    for path in paths:
        status, body = get(served.port, path)
        leaked = [name for name, marker in secrets.items() if marker in body]
        if leaked or (status == 200 and "file=" in path):
            served_anything.append((path, status, leaked))
    assert served_anything == []
    assert all(Path(t).exists() for t in (small_corpus / "guide.txt", manifest, feedback.path))  # they were there
