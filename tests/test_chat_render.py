"""The chat page's rendering: exact highlights by offset, and document text that can never become markup."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cstoqa.assistant import Assistant
from cstoqa.chat import render
from cstoqa.chat.watcher import IndexStatus
from cstoqa.settings import Settings
from cstoqa.types import Answer, Chunk, Citation, Document, Passage

HOSTILE = (
    "Intro line.\n\n"
    "The zebra protocol says <script>alert('pwned')</script> and <img src=x onerror=\"alert(1)\"> loudly. "
    "It links [a trap](javascript:alert(2)) and ![img](http://example.com/x.png) and ${alert(3)} and {{value}}.\n"
)


class TagCollector(HTMLParser):
    """Elements (tag, attrs) and the text inside each <mark>/<strong> in a fragment of HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.open: list[str] = []
        self.text: dict[str, list[str]] = {"mark": [], "strong": []}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.open.append(tag)
        if tag in self.text:
            self.text[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        while self.open and self.open.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        for tag in self.text:
            if tag in self.open:
                self.text[tag][-1] += data


def parse(fragment: str) -> TagCollector:
    collector = TagCollector()
    collector.feed(fragment)
    collector.close()
    return collector


def hostile_doc() -> Document:
    return Document(doc_id="evil.txt", title="Evil <b>title</b>", text=HOSTILE, content_hash="x")


def citation_for(doc: Document, sentence: str, answer: str | None = None, section: str = "<i>S</i>") -> Citation:
    start = doc.text.index(sentence)
    a_start = doc.text.index(answer, start) if answer else None
    return Citation(
        doc_id=doc.doc_id,
        title=doc.title,
        section=section,
        start=start,
        end=start + len(sentence),
        quote=sentence,
        answer_start=a_start,
        answer_end=a_start + len(answer) if a_start is not None and answer else None,
    )


def test_highlight_marks_exact_offsets() -> None:
    text = "Before. Established in 2002, the alliance grew. After."
    base = 100
    q0 = base + text.index("Established")
    q1 = base + text.index(" After")
    a0 = base + text.index("2002")
    out = render.highlight(text, base, (q0, q1), (a0, a0 + 4))
    assert out == (
        'Before. <mark class="cstoqa-quote">Established in <strong class="cstoqa-answer">2002</strong>, '
        "the alliance grew.</mark> After."
    )


def test_highlight_clips_offsets_and_escapes() -> None:
    assert render.highlight("a<b>c", 10, (11, 14)) == 'a<mark class="cstoqa-quote">&lt;b&gt;</mark>c'
    assert render.highlight("abc", 0, (-5, 99), (2, 50)) == (
        '<mark class="cstoqa-quote">ab<strong class="cstoqa-answer">c</strong></mark>'
    )
    assert render.highlight("abc", 0, (1, 2), (2, 2)) == 'a<mark class="cstoqa-quote">b</mark>c'


def test_hostile_document_renders_as_text_in_the_sources_panel() -> None:
    doc = hostile_doc()
    sentence = doc.text.split("\n\n")[1].split(" It links")[0]
    citation = citation_for(doc, sentence, answer="<script>alert('pwned')</script>")
    chunk = Chunk(
        chunk_id="c",
        doc_id=doc.doc_id,
        title=doc.title,
        section="S",
        start=13,
        end=len(doc.text),
        text=doc.text[13:],
        sentence_ids=[],
    )
    data = type("Data", (), {"documents": {doc.doc_id: doc}, "chunks": [chunk]})()
    answer = Answer(
        question="q", text=citation.quote, abstained=False, confidence=0.9, citations=[citation], kind="span"
    )

    out = render.sources_html(answer, data)  # type: ignore[arg-type]

    parsed = parse(out)
    assert {tag for tag, _ in parsed.tags} <= {"div", "details", "summary", "span", "mark", "strong", "p"}
    assert not any(name.startswith("on") or name in {"src", "href"} for _, attrs in parsed.tags for name in attrs)
    assert "<script" not in out and "<img" not in out and "<b>" not in out and "<i>" not in out
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in out
    assert parsed.text["mark"] == [citation.quote]  # the highlighted text is exactly the cited span
    assert parsed.text["strong"] == ["<script>alert('pwned')</script>"]
    assert "${alert(3)}" in html.unescape(out)  # shown as text (the chunk is the context)


def test_hostile_document_renders_as_text_in_the_chat_reply() -> None:
    doc = hostile_doc()
    sentence = doc.text.split("\n\n")[1].strip()
    citation = citation_for(doc, sentence, answer="[a trap](javascript:alert(2))")
    answer = Answer(
        question="q", text=citation.quote, abstained=False, confidence=0.9, citations=[citation], kind="span"
    )
    reply = render.reply_markdown(answer, interpreted_as="What <b>is</b> it?")
    assert "<script" not in reply and "<img" not in reply and "<b>" not in reply and "<i>" not in reply
    assert "](javascript" not in reply and "![img](" not in reply  # no Markdown link or image can form
    assert "\\[a trap\\]\\(javascript:alert\\(2\\)\\)" in reply
    assert "&lt;script&gt;" in reply


def test_md_escape_defuses_markdown_syntax() -> None:
    assert render.md_escape("# Title") == "\\# Title"
    assert render.md_escape("1992. Signed") == "1992\\. Signed"
    assert render.md_escape("a *b* _c_ `d` | e ~f~ $x$") == "a \\*b\\* \\_c\\_ \\`d\\` \\| e \\~f\\~ \\$x\\$"
    assert render.md_escape("  two\n\nlines ") == " two lines "
    assert render.md_bold("2002") == "**2002**"
    assert render.md_bold("(CSTO)") == "<strong>\\(CSTO\\)</strong>"


def test_reply_puts_short_answer_first_then_cited_sentence_and_confidence() -> None:
    doc = Document(doc_id="d.txt", title="T", text="Intro. Established in 2002, it grew.", content_hash="h")
    citation = citation_for(doc, "Established in 2002, it grew.", answer="2002", section="Overview")
    answer = Answer(question="q", text="2002", abstained=False, confidence=0.81, citations=[citation], kind="span")
    lines = render.reply_markdown(answer).split("\n\n")
    assert lines == [
        "**2002**",
        "> Established in **2002**, it grew. \\[1\\]",
        "Confidence 81% (high) · \\[1\\] Overview (d.txt)",
    ]
    assert render.reply_markdown(answer, "When was X established?").startswith(
        "*Interpreted as: When was X established?*\n\n**2002**"
    )


def test_abstention_says_so_and_lists_the_closest_passages() -> None:
    chunk = Chunk(
        chunk_id="c",
        doc_id="d.txt",
        title="T",
        section="S",
        start=0,
        end=20,
        text="Nothing <useful> here.",
        sentence_ids=[],
    )
    answer = Answer(
        question="q",
        text=None,
        abstained=True,
        confidence=0.1,
        passages=[Passage(chunk=chunk, score=0.5)],
        kind="abstain",
        message="The sources don't say. The closest passages are listed, but none of them answers the question.",
    )
    reply = render.reply_markdown(answer)
    assert reply.startswith("**The sources don't say.** The closest passages are listed")
    assert "Closest passages:\n\n- \\[1\\] S (d.txt): “Nothing &lt;useful&gt; here.”" in reply
    panel = render.sources_html(answer)
    assert "The sources don't answer this" in html.unescape(panel)
    assert 'id="cstoqa-passage-1" open' in panel and "Nothing &lt;useful&gt; here." in panel
    assert "<mark" not in panel

    invalid = Answer(
        question="", text=None, abstained=True, confidence=0.0, kind="abstain", message="the question is empty"
    )
    assert render.reply_markdown(invalid) == "The question is empty"
    assert render.sources_html(invalid) == render.EMPTY_SOURCES


def test_context_is_the_chunk_around_the_citation_or_only_the_quote_when_text_changed() -> None:
    doc = Document(doc_id="d.txt", title="T", text="A first. Second one here. Third.", content_hash="h")
    citation = citation_for(doc, "Second one here.")
    chunk = Chunk(
        chunk_id="c", doc_id="d.txt", title="T", section="", start=0, end=len(doc.text), text=doc.text, sentence_ids=[]
    )
    assert render.citation_context(citation, {"d.txt": doc}, [chunk]) == render.Context(doc.text, 0)
    around = render.citation_context(citation, {"d.txt": doc})
    assert around.text == doc.text and around.start == 0
    edited = doc.model_copy(update={"text": "Changed entirely, offsets now point elsewhere."})
    assert render.citation_context(citation, {"d.txt": edited}, [chunk]) == render.Context(citation.quote, 9)
    assert render.citation_context(citation, None) == render.Context(citation.quote, 9)


def test_every_citation_from_a_real_answer_is_highlighted_exactly(
    open_assistant: Callable[..., Assistant], small_corpus: Path
) -> None:
    (small_corpus / "evil.txt").write_text("Budget Rules\n\n" + HOSTILE.replace("zebra", "budget"), encoding="utf-8")
    assistant = open_assistant(settings=Settings(abstain_threshold=0.0))
    answered = 0
    for question in ["Where is the secretariat located?", "What does the budget protocol say?"]:
        answer = assistant.ask(question)
        panel = render.sources_html(answer, assistant.data)
        assert "<script" not in panel and "<img" not in panel
        if answer.abstained:
            continue
        answered += 1
        marks = parse(panel).text["mark"]
        assert marks == [c.quote for c in answer.citations]
        for n, c in enumerate(answer.citations, start=1):
            assert f'id="cstoqa-source-{n}"' in panel
            assert assistant.data.documents[c.doc_id].text[c.start : c.end] == c.quote
    assert answered == 2


def test_status_line_shows_build_time_and_counts() -> None:
    built = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    status = IndexStatus(built_at=built, documents=1, chunks=41, sentences=154, generation="gen-x", watching=True)
    line = render.status_markdown(status, now=built + timedelta(minutes=5))
    assert line == (
        "Index built 2026\\-01\\-02 03:04 UTC (5 min ago) · 1 document, 41 passages · watching the corpus for changes"
    )
    busy = IndexStatus(
        built_at=None, documents=2, chunks=1, sentences=1, generation="g", reindexing=True, last_error="disk <full>"
    )
    text = render.status_markdown(busy)
    assert "2 documents, 1 passage" in text and "reindexing…" in text and "disk &lt;full&gt;" in text


@pytest.mark.parametrize(
    ("seconds", "expected"), [(3, "just now"), (42, "42 s ago"), (3600 * 5, "5 h ago"), (86400 * 3, "3 days ago")]
)
def test_age(seconds: int, expected: str) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert render.age(now - timedelta(seconds=seconds), now) == expected


def test_abstention_reply_lists_three_closest_passages_and_the_panel_all() -> None:
    chunks = [
        Chunk(
            chunk_id=f"c{i}",
            doc_id="d.txt",
            title="T",
            section=f"S{i}",
            start=0,
            end=5,
            text=f"text {i} " * 40,
            sentence_ids=[],
        )
        for i in range(1, 6)
    ]
    answer = Answer(
        question="q",
        text=None,
        abstained=True,
        confidence=0.1,
        kind="abstain",
        message="The sources don't say.",
        passages=[Passage(chunk=c, score=0.1) for c in chunks],
    )
    reply = render.reply_markdown(answer)
    assert "Closest passages (all 5 in the Sources panel):" in reply
    assert "\\[3\\] S3 (d.txt)" in reply and "\\[4\\]" not in reply
    assert max(len(line) for line in reply.splitlines()) < 200  # snippets, not whole passages
    panel = render.sources_html(answer)
    assert all(f'id="cstoqa-passage-{i}"' in panel for i in range(1, 6))
