"""Bad input gets a clear message, never a traceback, and nothing else is lost.

Questions (empty, a 100 KB paste, control characters, punctuation, other scripts, any string at all) through
the API, the CLI and the chat page; corpus files that cannot be indexed (binary, undecodable, empty, 50 MB, a
broken PDF, symlink loops, a pipe, no permission, deleted mid-scan), each skipped with its reason while the
rest is indexed; and a damaged index folder, reported with the fix and repaired by `cstoqa index`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import gradio as gr
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cstoqa import cli, indexing
from cstoqa.assistant import Assistant, displayable
from cstoqa.chat.feedback import FeedbackLog
from cstoqa.chat.server import ChatHandlers
from cstoqa.chunking import chunk_document
from cstoqa.errors import CorpusError, InvalidQuestionError
from cstoqa.index import store
from cstoqa.index.manifest import FORMAT_VERSION
from cstoqa.ingest import SourceFile, load_document
from cstoqa.ingest import corpus as corpus_module
from cstoqa.settings import Settings
from cstoqa.types import Passage
from support import SMALL_CORPUS, FakeEmbedder, FakeReader, assert_valid_answer

# Answer whenever a sentence matches, so that generated questions also produce citations to check.
ANSWER_ALWAYS = Settings(abstain_threshold=0.0)
DOCS = sorted(SMALL_CORPUS)
EMPTY = "the question is empty; type a question about the documents"
NO_WORDS = "the question has no words in it; type a question about the documents"
PASTE = "When was the Collective Security Treaty signed, and by which states? " * 1500  # ~100 KB
TOO_LONG = f"the question is {len(PASTE.strip())} characters long; the limit is 2000: ask about one thing at a time"

# (question, the message when it cannot be asked, or None when it is a question to answer)
QUESTIONS = {
    "empty": ("", EMPTY),
    "whitespace": (" \n\t\u00a0\u3000 ", EMPTY),
    "only-control-characters": ("\x00\x07\x1b\x7f\u200b", EMPTY),
    "lone-surrogates": ("\ud800\udfff", EMPTY),
    "paste-100kb": (PASTE, TOO_LONG),
    "punctuation": ("?!?... ;; — «» ¿¡ ***", NO_WORDS),
    "emoji": ("🤔🔥🎉 👍🏽", NO_WORDS),
    "control-characters": ("\x00When\x07 was the\x1b[31m treaty signed?\x7f\u202e", None),
    "chinese": ("集体安全条约是什么时候签署的？", None),
    "arabic": ("متى تم توقيع معاهدة الأمن الجماعي؟", None),
    "russian": ("Где находится секретариат?", None),
    "emoji-and-words": ("Where is the secretariat located? 🏛️", None),
    "one-letter": ("a", None),
}
PARAMS = [pytest.param(q, m, id=name) for name, (q, m) in QUESTIONS.items()]
UNASKABLE = [pytest.param(q, m, id=name) for name, (q, m) in QUESTIONS.items() if m]


@pytest.fixture
def assistant(open_assistant: Callable[..., Assistant]) -> Assistant:
    return open_assistant(settings=ANSWER_ALWAYS)


# --- questions: Python API ---------------------------------------------------------------------------


@pytest.mark.parametrize(("question", "message"), PARAMS)
def test_ask_always_returns_a_valid_answer(assistant: Assistant, question: str, message: str | None) -> None:
    answer = assistant.ask(question)
    assert_valid_answer(answer, assistant.data.documents)
    if message is not None:
        assert answer.abstained and answer.message == message and answer.passages == []
    else:
        assert answer.passages, "a question with words is searched"


@pytest.mark.parametrize(("question", "message"), UNASKABLE)
def test_search_rejects_an_unaskable_question_saying_why(assistant: Assistant, question: str, message: str) -> None:
    with pytest.raises(InvalidQuestionError) as caught:
        assistant.search(question)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "question", [q for q, m in QUESTIONS.values() if m is None], ids=[k for k, v in QUESTIONS.items() if not v[1]]
)
def test_search_answers_an_odd_but_real_question_with_passages(assistant: Assistant, question: str) -> None:
    passages = assistant.search(question, top_k=3)
    assert 1 <= len(passages) <= 3 and all(isinstance(p, Passage) for p in passages)
    for p in passages:
        assert assistant.data.documents[p.doc_id].text[p.start : p.end] == p.text


def test_control_characters_are_read_as_spaces(assistant: Assistant) -> None:
    clean = assistant.search("When was the treaty signed?")
    dirty = assistant.search("\x00When\x07 was the\x1b[31m treaty signed?\x7f\u202e")
    assert [p.chunk.chunk_id for p in dirty][:1] == [p.chunk.chunk_id for p in clean][:1]


# --- questions: CLI ----------------------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, small_corpus: Path, index_dir: Path) -> dict[str, str]:
    """The CLI with the fake embedder wherever it builds the real one, and no spaCy annotation."""
    monkeypatch.setattr("cstoqa.embedding.SentenceTransformerEmbedder", FakeEmbedder)
    monkeypatch.setattr("cstoqa.assistant.SentenceTransformerEmbedder", FakeEmbedder)
    monkeypatch.setattr("cstoqa.assistant.TransformerReader", FakeReader)
    env = {"CSTOQA_CORPUS": str(small_corpus), "CSTOQA_INDEX": str(index_dir)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``cstoqa ARGS`` through ``cli.main`` in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["cstoqa", *args])
    code: int | str | None = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return int(code or 0), out, err


@pytest.mark.parametrize(("question", "message"), UNASKABLE)
def test_cli_search_prints_one_error_line_and_exits_1(
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    question: str,
    message: str,
) -> None:
    code, out, err = run_cli(monkeypatch, capsys, "search", question)
    assert (code, out, err) == (1, "", f"error: {message}\n")


@pytest.mark.parametrize(("question", "message"), UNASKABLE)
def test_cli_ask_prints_the_abstention(
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    question: str,
    message: str,
) -> None:
    code, out, err = run_cli(monkeypatch, capsys, "ask", question, "--json")
    answer = json.loads(out)
    assert code == 0 and answer["abstained"] is True and answer["message"] == message
    assert answer["question"] == displayable(question)  # undecodable argv bytes are printable too
    assert "Traceback" not in err


def test_cli_search_for_a_non_english_question_lists_passages(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(monkeypatch, capsys, "search", QUESTIONS["chinese"][0], "--json")
    assert code == 0 and "Traceback" not in err
    assert {p["chunk"]["doc_id"] for p in json.loads(out)} <= set(DOCS)


# --- questions: chat page ----------------------------------------------------------------------------


@pytest.fixture
def handlers(assistant: Assistant, tmp_path: Path) -> ChatHandlers:
    return ChatHandlers(assistant, feedback=FeedbackLog(tmp_path / "data" / "feedback.jsonl"))


EARLIER = [{"role": "user", "content": "Where is the CSTO secretariat?"}, {"role": "assistant", "content": "…"}]
EARLIER_TURNS = [{"index": 1, "question": "Where is the CSTO secretariat?", "asked": "Where is the CSTO secretariat?"}]


@pytest.mark.parametrize(("question", "message"), UNASKABLE)
@pytest.mark.parametrize("follow_up", [False, True], ids=["first", "follow-up"])
def test_chat_shows_why_a_question_cannot_be_asked(
    handlers: ChatHandlers, question: str, message: str, follow_up: bool
) -> None:
    history, turns = (list(EARLIER), list(EARLIER_TURNS)) if follow_up else ([], [])
    box, history, sources, turns = handlers.respond(question, history, turns)
    if not question.split():  # an empty box sends nothing, as in any chat
        assert sources == gr.skip() and len(history) == (2 if follow_up else 0)
        return
    if "\ud800" in question:  # the page shows lone surrogates as U+FFFD, which is not a word either
        message = NO_WORDS
    reply = history[-1]["content"]
    assert box == "" and reply == message[0].upper() + message[1:]  # asked as typed: never "(the CSTO)" added
    assert turns[-1]["answer"]["abstained"] is True and turns[-1]["asked"] == " ".join(displayable(question).split())
    json.dumps([history, turns], ensure_ascii=False).encode()  # what Gradio sends to the page
    handlers.like(gr.LikeData(None, {"index": len(history) - 1, "value": ["…"], "liked": False}), turns)
    assert handlers.feedback.read()[-1]["question"] == turns[-1]["question"]  # a vote on it is saved, readable
    result = handlers.api_ask(question, previous_question=EARLIER_TURNS[0]["asked"] if follow_up else "")
    assert result["abstained"] is True and result["message"] == message and result["interpreted_as"] is None
    json.dumps(result, ensure_ascii=False).encode()


@pytest.mark.parametrize("question", [q for q, m in QUESTIONS.values() if m is None])
def test_chat_answers_odd_but_real_questions(handlers: ChatHandlers, question: str) -> None:
    _, history, sources, turns = handlers.respond(question, [], [])
    reply = history[-1]["content"]
    assert reply and "Sorry" not in reply and "Traceback" not in reply
    assert turns[0]["answer"] is not None and '<div class="cstoqa-sources">' in sources


# --- questions: any string at all ---------------------------------------------------------------------

CORPUS_WORDS = sorted({w.strip(".,;:&") for text in SMALL_CORPUS.values() for w in text.split()} - {""})
questions = st.one_of(
    st.text(),
    st.text(min_size=1900, max_size=2100),  # around the length limit
    st.text(alphabet=st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Z", "Cc", "Cf"])),
    st.text(alphabet=st.characters(categories=["Cs", "Ll", "Po", "Zs"])),  # lone surrogates, as from bad argv bytes
    st.lists(st.one_of(st.sampled_from(CORPUS_WORDS), st.text(max_size=3)), max_size=30).map(" ".join),
    st.just("x" * 100_000),
)


@hyp_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=questions, previous=st.one_of(st.just(""), st.sampled_from(CORPUS_WORDS), st.text(max_size=40)))
def test_any_string_gets_a_valid_answer_from_the_api_and_the_chat(
    handlers: ChatHandlers, question: str, previous: str
) -> None:
    documents = handlers.assistant.data.documents
    answer = handlers.assistant.ask(question)
    assert_valid_answer(answer, documents)
    answer.model_dump_json()  # printable by `cstoqa ask --json`
    result = handlers.api_ask(question, previous_question=previous)
    assert isinstance(result["abstained"], bool) and (result["message"] or not result["abstained"])
    for c in result["citations"]:
        assert documents[c["doc_id"]].text[c["start"] : c["end"]] == c["quote"]
    _, history, _, turns = handlers.respond(question, [], [])
    assert all("Sorry, that did not work" not in m["content"] for m in history)
    json.dumps([result, history, turns], ensure_ascii=False).encode()  # what Gradio sends back


# --- corpus files -------------------------------------------------------------------------------------

GOOD = {
    **SMALL_CORPUS,
    "deep.html": "<html><body>"
    + "<div><span>" * 3000
    + "<p>Nested pages are read to the bottom.</p>"
    + "</span></div>" * 3000
    + "</body></html>",
}
BIG_BYTES = 50 * 2**20


def write_big_text(path: Path, size: int) -> None:
    """``size`` bytes of plain English prose, written a megabyte at a time."""
    line = b"The council met again and the member states agreed on the common budget for the year.\n\n"
    block = line * (2**20 // len(line) + 1)
    with path.open("wb") as fh:
        written = 0
        while written < size:
            piece = block[: size - written]
            fh.write(piece)
            written += len(piece)


@pytest.fixture
def messy_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, dict[str, str]]]:
    """Good documents among every kind of file that cannot be indexed; yields the folder and the expected reasons."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in GOOD.items():
        (corpus / name).write_text(text, encoding="utf-8")
    (corpus / "binary.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    (corpus / "latin1.md").write_bytes("Café au lait, façade, naïve.".encode("latin-1"))
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "blank.md").write_bytes(b" \n\n\t \n")
    write_big_text(corpus / "huge.txt", BIG_BYTES)
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n%%EOF garbage")
    (corpus / "loop-a.txt").symlink_to("loop-b.txt")  # file symlinks pointing at each other
    (corpus / "loop-b.txt").symlink_to("loop-a.txt")
    (corpus / "sub").mkdir()
    (corpus / "sub" / "back").symlink_to("..")  # a folder loop: corpus/sub/back -> corpus
    (corpus / "sub" / "inner.md").write_text("# Inner\n\nDocuments in sub-folders are indexed too.\n")
    (corpus / "zero.txt").symlink_to("/dev/zero")  # endless bytes: must not be read
    os.mkfifo(corpus / "pipe.txt")  # a reader of a named pipe waits for a writer forever
    (corpus / "locked.txt").write_text("Nobody may read this file.\n")
    (corpus / "vanishing.md").write_text("# Gone\n\nThis file is deleted after the folder is listed.\n")

    locked = str(corpus / "locked.txt")
    os.chmod(locked, 0)
    if os.geteuid() == 0:  # root reads through chmod 000: deny it the way the kernel would for anyone else
        real_open = os.open

        def denying_open(path: str | os.PathLike[str], flags: int, *args: int, **kwargs: int) -> int:
            if os.fspath(path) == locked:
                raise PermissionError(13, "Permission denied", locked)
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", denying_open)

    real_walk = os.walk

    def walk_then_delete(top: Path, **kwargs: bool) -> Iterator[tuple[str, list[str], list[str]]]:
        for root, dirs, files in real_walk(top, **kwargs):
            (corpus / "vanishing.md").unlink(missing_ok=True)  # listed, then gone before it is read
            yield root, dirs, files

    monkeypatch.setattr(corpus_module.os, "walk", walk_then_delete)

    reasons = {
        "binary.txt": "binary file (contains NUL bytes)",
        "latin1.md": "not valid UTF-8 text (byte 3)",
        "empty.txt": "empty file",
        "blank.md": "empty file",
        "huge.txt": "too large (50.0 MB; the limit is 16.0 MB, Settings.max_file_bytes): split it into smaller files",
        "broken.pdf": "PDF could not be parsed",
        "loop-a.txt": "unreadable (Too many levels of symbolic links)",
        "loop-b.txt": "unreadable (Too many levels of symbolic links)",
        "zero.txt": "not a regular file",
        "pipe.txt": "not a regular file",
        "locked.txt": "unreadable (Permission denied)",
        "vanishing.md": "unreadable (deleted while indexing)",
    }
    yield corpus, reasons
    os.chmod(locked, 0o644)


def test_each_unusable_file_is_skipped_with_its_reason_and_the_rest_is_indexed(
    messy_corpus: tuple[Path, dict[str, str]], tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    corpus, reasons = messy_corpus
    started = time.perf_counter()
    report, data = indexing.reindex(corpus, tmp_path / "index", settings, fake_embedder)
    seconds = time.perf_counter() - started
    assert data is not None and seconds < 30

    assert report.added == sorted([*GOOD, "sub/inner.md"])
    skipped = {s.path: s.reason for s in report.skipped}
    assert set(skipped) == set(reasons)
    for path, reason in reasons.items():
        assert skipped[path].startswith(reason), (path, skipped[path])
    assert not any(p.startswith("sub/back") for p in skipped) and "sub/back/guide.txt" not in report.added

    assistant = Assistant(
        corpus, tmp_path / "index", settings, fake_embedder, store.load(tmp_path / "index"), FakeReader()
    )
    assert assistant.search("How deep are nested pages read?")[0].doc_id == "deep.html"
    assert assistant.search("Where is the secretariat located?")[0].doc_id == "page.html"
    assert "Nested pages are read to the bottom." in data.documents["deep.html"].text

    fake_embedder.reset()  # nothing changed: the skipped files are remembered, nothing is embedded again
    again, _ = indexing.reindex(corpus, tmp_path / "index", settings, fake_embedder)
    assert fake_embedder.calls == 0 and set(again.unchanged) == set(report.added)


def test_a_50_mb_file_is_skipped_without_being_read(tmp_path: Path, settings: Settings) -> None:
    """Bounded memory and time: the size is checked on the open file before a byte is read.

    16 MB of text is already ~2.5 million words: about a gigabyte of memory for its sentences and many
    minutes of embedding on a CPU, so the default limit stops there and says how to get past it.
    """
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_big_text(corpus / "huge.txt", BIG_BYTES)
    (corpus / "ok.txt").write_text("A small file is read.\n")
    tracemalloc.start()
    try:
        started = time.perf_counter()
        sources, skipped = indexing.scan(corpus, settings)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [s.doc_id for s in sources] == ["ok.txt"]
    assert [s.path for s in skipped] == ["huge.txt"] and skipped[0].reason.startswith("too large (50.0 MB")
    assert peak < 2**20 and seconds < 5


def test_a_file_that_grows_past_the_limit_while_read_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "growing.txt"
    path.write_bytes(b"x" * 100)
    assert corpus_module.read_bounded(path, 100) == b"x" * 100
    real_fstat = os.fstat

    def size_when_opened(fd: int) -> os.stat_result:  # it had 10 bytes when opened, 100 by the time it is read
        info = real_fstat(fd)
        return os.stat_result((*info[:6], 10, *info[7:10]))

    monkeypatch.setattr(os, "fstat", size_when_opened)
    with pytest.raises(CorpusError, match=r"too large \(51 bytes; the limit is 50 bytes"):
        corpus_module.read_bounded(path, 50)


def test_many_short_lines_are_all_read_as_sections(tmp_path: Path, settings: Settings) -> None:
    """300,000 heading-like lines: the structure stage once compared every line with all those after it, which
    at this size takes hours, so a quadratic regression shows as a suite that never finishes (no clock here)."""
    data = ("Heading\n\nBody sentence under it.\n\n" * 75_000).encode()
    source = SourceFile("many.txt", tmp_path / "many.txt", hashlib.sha256(data).hexdigest(), data)
    doc = load_document(source, settings)
    assert len(doc.sections) == 75_000 and doc.sections[-1].title == "Heading"


# --- ingestion and chunking of any bytes -------------------------------------------------------------

html_tag = st.sampled_from(["div", "p", "span", "b", "h1", "h2", "li", "ul", "table", "td", "br", "script", "pre"])
html_soup = st.recursive(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30),
    lambda inner: st.builds(lambda t, parts: f"<{t}>{''.join(parts)}</{t}>", html_tag, st.lists(inner, max_size=4)),
    max_leaves=25,
)


@hyp_settings(max_examples=300, deadline=None)
@given(
    suffix=st.sampled_from([".txt", ".md", ".html", ".pdf"]),
    data=st.one_of(
        st.binary(max_size=400),
        st.text(max_size=600).map(lambda t: t.encode("utf-8")),
        html_soup.map(lambda t: t.encode("utf-8")),
    ),
)
def test_any_file_is_read_with_offsets_that_round_trip_or_skipped_with_a_reason(suffix: str, data: bytes) -> None:
    source = SourceFile(f"doc{suffix}", Path(f"doc{suffix}"), hashlib.sha256(data).hexdigest(), data)
    settings = Settings(chunk_words=12)
    try:
        doc = load_document(source, settings)
    except CorpusError as exc:
        assert str(exc)
        return
    for section in doc.sections:
        assert 0 <= section.start <= section.end <= len(doc.text)
        for start, end in section.paragraphs:
            assert section.start <= start < end <= section.end and doc.text[start:end].strip()
    chunks, sentences = chunk_document(doc, settings.chunk_words, settings.overlap_sentences)
    for s in sentences:
        assert s.text and doc.text[s.start : s.end] == s.text == s.text.strip()
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert all(c.start <= sentences[i].start and sentences[i].end <= c.end for i in c.sentence_ids)


# --- the index folder ---------------------------------------------------------------------------------


def flip_a_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "missing-file": (lambda gen: (gen / "sentences.jsonl").unlink(), "sentences.jsonl is missing"),
    "truncated-file": (
        lambda gen: os.truncate(gen / "chunk_vectors.npy", (gen / "chunk_vectors.npy").stat().st_size // 2),
        "chunk_vectors.npy has the wrong size",
    ),
    "corrupted-file": (lambda gen: flip_a_byte(gen / "dense.faiss"), "dense.faiss does not match its checksum"),
    "corrupted-bm25": (
        lambda gen: flip_a_byte(next(p for p in sorted((gen / "bm25").iterdir()) if p.is_file())),
        "does not match its checksum",
    ),
    "truncated-manifest": (
        lambda gen: (gen / "manifest.json").write_bytes((gen / "manifest.json").read_bytes()[:200]),
        "manifest.json is unreadable",
    ),
    "manifest-without-files": (
        lambda gen: (gen / "manifest.json").write_text(json.dumps({"format_version": 2, "files": []})),
        "manifest.json has no file list",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_index_is_named_with_the_fix_and_cstoqa_index_repairs_it(
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index_dir: Path,
    damage: str,
) -> None:
    assert run_cli(monkeypatch, capsys, "index")[0] == 0
    harm, detail = DAMAGE[damage]
    harm((index_dir / "current").resolve())

    code, out, err = run_cli(monkeypatch, capsys, "search", "Where is the secretariat located?")
    assert code == 1 and out == "" and len(err.splitlines()) == 1
    assert err.startswith(f"error: the index in {index_dir} is damaged (") and detail in err
    assert err.endswith("); rebuild it with `cstoqa index --rebuild`\n")

    code, out, err = run_cli(monkeypatch, capsys, "index", "--json")  # no --rebuild needed
    assert code == 0 and json.loads(out)["rebuilt"] is True and json.loads(out)["total_documents"] == 3
    code, out, _ = run_cli(monkeypatch, capsys, "search", "Where is the secretariat located?", "--json")
    assert code == 0 and json.loads(out)[0]["chunk"]["doc_id"] == "page.html"


@pytest.mark.parametrize(("key", "value"), [("format_version", 1), ("model", "another-model"), ("fingerprint", "x")])
def test_index_from_another_version_or_model_is_rebuilt_automatically(
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index_dir: Path,
    key: str,
    value: object,
) -> None:
    assert run_cli(monkeypatch, capsys, "index")[0] == 0
    path = index_dir / "current" / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), key: value}))

    code, out, err = run_cli(monkeypatch, capsys, "ask", "Where is the secretariat located?", "--json")
    assert code == 0 and err == "" and json.loads(out)["passages"][0]["chunk"]["doc_id"] == "page.html"
    manifest = store.read_manifest(index_dir)
    assert manifest.format_version == FORMAT_VERSION and manifest.model == Settings().model_name


def test_an_index_folder_that_is_a_file_is_one_error_line(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    not_a_folder = tmp_path / "index-file"
    not_a_folder.write_text("not an index")
    code, out, err = run_cli(monkeypatch, capsys, "index", "--index", str(not_a_folder))
    assert (code, out, err) == (1, "", f"error: {not_a_folder}: File exists\n")


def test_cli_runner_app_sees_a_bad_question_as_an_invalid_question_error(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli.app, ["search", "\x00\x07"])
    assert isinstance(result.exception, InvalidQuestionError) and str(result.exception) == EMPTY


def test_lone_surrogates_sent_as_json_escapes_are_answered_by_the_server(
    open_assistant: Callable[..., Assistant],
) -> None:
    """gradio_client cannot send them, but any JSON client can: ``"\\ud800"`` is valid JSON."""
    import httpx

    from cstoqa.chat.server import build_app, launch
    from support import free_port

    demo = build_app(open_assistant(), examples=[])
    _, url, _ = launch(demo, port=free_port(), block=False)
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            body = '{"data": ["\\ud800 Where is the \\udfff secretariat?", "\\udcff"]}'
            sent = http.post("/gradio_api/call/ask", content=body, headers={"Content-Type": "application/json"})
            events = http.get(f"/gradio_api/call/ask/{sent.json()['event_id']}").text
    finally:
        demo.close()
    assert events.startswith("event: complete\ndata: "), events[:300]
    (result,) = json.loads(events.split("data: ", 1)[1])
    assert result["question"] == "\ufffd Where is the \ufffd secretariat?"
    assert result["passages"][0]["doc_id"] == "page.html"
