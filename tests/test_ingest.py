"""Stage 1: files → Documents with titles, sections and boilerplate-free paragraphs; bad files skipped with a reason."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from cstoqa import indexing
from cstoqa.errors import CorpusError
from cstoqa.ingest import SourceFile, iter_sources, load_document
from cstoqa.settings import Settings
from cstoqa.types import Document, SkippedFile


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def sources(corpus: Path, settings: Settings) -> tuple[list[SourceFile], list[SkippedFile]]:
    skipped: list[SkippedFile] = []
    return list(iter_sources(corpus, settings, skipped)), skipped


def load(tmp_path: Path, name: str, content: str | bytes, settings: Settings) -> Document:
    """Load one file through the same path the indexer uses."""
    folder = tmp_path / "one"
    write(folder, name, content)
    found, skipped = sources(folder, settings)
    assert skipped == []
    (source,) = found
    return load_document(source, settings)


def paragraphs(doc: Document) -> list[str]:
    return [doc.text[s:e] for section in doc.sections for s, e in section.paragraphs]


def assert_offsets_valid(doc: Document) -> None:
    for section in doc.sections:
        assert 0 <= section.start <= section.end <= len(doc.text)
        for s, e in section.paragraphs:
            assert section.start <= s < e <= section.end
            assert doc.text[s:e] == doc.text[s:e].strip()


# --- titles -----------------------------------------------------------------------------------------


def test_title_is_first_plain_text_heading(tmp_path: Path, settings: Settings) -> None:
    doc = load(tmp_path, "guide.txt", "Treaty Basics\n\nThe treaty was signed in 1992 by six states.\n", settings)
    assert doc.title == "Treaty Basics"
    assert doc.doc_id == "guide.txt"


def test_title_falls_back_to_file_name_without_suffix(tmp_path: Path, settings: Settings) -> None:
    doc = load(tmp_path, "plain_notes.txt", "No heading here, only one sentence of body text.\n", settings)
    assert doc.title == "plain_notes"
    assert [s.title for s in doc.sections] == ["plain_notes"]


def test_title_is_markdown_h1(tmp_path: Path, settings: Settings) -> None:
    doc = load(tmp_path, "notes.md", "# Peacekeeping Forces\n\nThe force keeps the peace.\n", settings)
    assert doc.title == "Peacekeeping Forces"


def test_html_title_tag_is_the_title_when_there_is_no_h1(tmp_path: Path, settings: Settings) -> None:
    html = (
        "<html><head><title>Secretariat Page</title></head><body><h2>Seat</h2><p>It sits in Moscow.</p></body></html>"
    )
    doc = load(tmp_path, "page.html", html, settings)
    assert doc.title == "Secretariat Page"
    assert [s.title for s in doc.sections] == ["Seat"]


def test_doc_id_is_relative_posix_path(tmp_path: Path, settings: Settings) -> None:
    corpus = tmp_path / "corpus"
    write(corpus, "sub/dir/deep.txt", "Some text that is a sentence.\n")
    found, _ = sources(corpus, settings)
    assert [s.doc_id for s in found] == ["sub/dir/deep.txt"]


# --- plain-text heading detection --------------------------------------------------------------------

BODY = "The body paragraph follows here and it is long enough to count as body text.\n"


def test_plain_text_headings_split_sections(tmp_path: Path, settings: Settings) -> None:
    text = f"Treaty Basics\n\n{BODY}\nMembership Rules\n\n{BODY}"
    doc = load(tmp_path, "a.txt", text, settings)
    assert [s.title for s in doc.sections] == ["Treaty Basics", "Membership Rules"]
    assert paragraphs(doc) == [BODY.strip(), BODY.strip()]
    # a section covers its body, not its heading
    assert all("Membership Rules" not in doc.text[s.start : s.end] for s in doc.sections)
    assert_offsets_valid(doc)


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("Key points:", id="ends-with-colon"),
        pytest.param("- Bullet item", id="dash-bullet"),
        pytest.param("• Bullet item", id="dot-bullet"),
        pytest.param("1. Numbered item", id="numbered-item"),
        pytest.param("Short sentence.", id="ends-with-period"),
        pytest.param("Is this a heading?", id="ends-with-question-mark"),
        pytest.param("lowercase start", id="lowercase-start"),
        pytest.param("This line has far too many words to be a heading of any section at all here", id="too-long"),
    ],
)
def test_plain_text_line_that_is_not_a_heading(tmp_path: Path, settings: Settings, line: str) -> None:
    doc = load(tmp_path, "notes.txt", f"{line}\n\n{BODY}", settings)
    assert doc.title == "notes"
    assert [s.title for s in doc.sections] == ["notes"]


def test_short_line_inside_a_paragraph_is_not_a_heading(tmp_path: Path, settings: Settings) -> None:
    doc = load(tmp_path, "a.txt", f"Some body text here.\nNot A Heading\n\n{BODY}", settings)
    assert [s.title for s in doc.sections] == ["a"]
    assert paragraphs(doc)[0] == "Some body text here.\nNot A Heading"


def test_short_line_followed_by_another_short_line_is_not_a_heading(tmp_path: Path, settings: Settings) -> None:
    doc = load(tmp_path, "a.txt", f"Part One\n\nChapter Two\n\n{BODY}", settings)
    assert doc.title == "Chapter Two"
    assert paragraphs(doc) == ["Part One", BODY.strip()]  # "Part One" stays text
    # text before the first heading is filed under the document title
    assert [s.title for s in doc.sections] == ["Chapter Two", "Chapter Two"]


def test_max_heading_words_setting(tmp_path: Path) -> None:
    text = f"A Rather Long Heading Of Six Words\n\n{BODY}"
    assert load(tmp_path / "a", "a.txt", text, Settings()).title == "A Rather Long Heading Of Six Words"
    assert load(tmp_path / "b", "a.txt", text, Settings(max_heading_words=5)).title == "a"


def test_crlf_and_bom_are_normalised(tmp_path: Path, settings: Settings) -> None:
    data = "\ufeffHeading One\r\n\r\nBody text with CRLF line endings here.\r\n".encode()
    doc = load(tmp_path, "a.txt", data, settings)
    assert doc.text == "Heading One\n\nBody text with CRLF line endings here.\n"
    assert doc.title == "Heading One"
    assert paragraphs(doc) == ["Body text with CRLF line endings here."]


# --- Markdown -----------------------------------------------------------------------------------------


def test_markdown_atx_setext_and_fenced_code(tmp_path: Path, settings: Settings) -> None:
    text = (
        "# Forces\n\nThe force keeps the peace.\n\n"
        "## Deployment ##\n\nIt was deployed in 2022.\n\n"
        "```bash\n# not a heading\necho ready\n```\n\n"
        "Setext Two\n----------\n\nExercises happen each autumn.\n\n"
        "Setext One\n==========\n\nThe end.\n\n"
        "#hashtag is not a heading\n"
    )
    doc = load(tmp_path, "a.md", text, settings)
    assert doc.title == "Forces"
    assert [s.title for s in doc.sections] == ["Forces", "Deployment", "Setext Two", "Setext One"]
    assert [doc.text[s:e] for s, e in doc.sections[1].paragraphs] == [
        "It was deployed in 2022.",
        "```bash\n# not a heading\necho ready",  # the closing fence has no word in it: dropped as a rule
    ]
    assert [doc.text[s:e] for s, e in doc.sections[3].paragraphs] == ["The end.", "#hashtag is not a heading"]
    assert_offsets_valid(doc)


def test_markdown_setext_underline_and_rules_are_not_text(tmp_path: Path, settings: Settings) -> None:
    doc = load(tmp_path, "a.md", "Title text\n==========\n\nSome body.\n\n---\n\nMore body after a rule.\n", settings)
    assert doc.title == "Title text"
    assert paragraphs(doc) == ["Some body.", "More body after a rule."]


def test_markdown_heading_keeps_a_trailing_hash_that_is_part_of_a_word(tmp_path: Path, settings: Settings) -> None:
    doc = load(tmp_path, "a.md", "# C#\n\nText about the C# language.\n", settings)
    assert doc.title == "C#"


# --- HTML ---------------------------------------------------------------------------------------------


def test_html_headings_scripts_styles_and_entities(tmp_path: Path, settings: Settings) -> None:
    html = (
        "<html><head><title>Page</title><style>p {color: red}</style></head><body>"
        "<h2>Secretariat</h2><p>It sits in Moscow &amp; St&eacute;p &lt;tag&gt; &#8212; here.</p>"
        "<script>var leaked = 'script text';</script><noscript>noscript text</noscript>"
        "<h2>Budget</h2><p>Members pay every year.</p></body></html>"
    )
    doc = load(tmp_path, "a.html", html, settings)
    assert [s.title for s in doc.sections] == ["Secretariat", "Budget"]
    assert paragraphs(doc) == ["It sits in Moscow & Stép <tag> — here.", "Members pay every year."]
    for leaked in ("script text", "noscript text", "color", "<script", "&amp;"):
        assert leaked not in doc.text
    assert_offsets_valid(doc)


def test_html_nested_blocks_are_not_duplicated(tmp_path: Path, settings: Settings) -> None:
    html = (
        "<h1>Main</h1><ul><li>First item</li><li>Second <p>nested para</p></li></ul>"
        "<table><tr><td>cell a</td></tr></table>"
    )
    doc = load(tmp_path, "a.html", html, settings)
    assert doc.title == "Main"
    assert paragraphs(doc) == ["First item", "Second", "nested para", "cell a"]


def test_html_without_block_tags_keeps_its_text(tmp_path: Path, settings: Settings) -> None:
    doc = load(tmp_path, "a.html", "<html><body>Bare text in the body only.</body></html>", settings)
    assert paragraphs(doc) == ["Bare text in the body only."]


def test_html_text_in_a_div_is_kept(tmp_path: Path, settings: Settings) -> None:
    html = "<html><body><h2>Title</h2><div>Body text in a div only.</div></body></html>"
    doc = load(tmp_path, "a.html", html, settings)
    assert paragraphs(doc) == ["Body text in a div only."]


def test_html_inline_tags_do_not_change_the_text(tmp_path: Path, settings: Settings) -> None:
    html = "<h2>Seat</h2><p>Located in <b>Mos</b>cow, <a href='#'>the capital</a>.</p>"
    doc = load(tmp_path, "a.html", html, settings)
    assert paragraphs(doc) == ["Located in Moscow, the capital."]


# --- boilerplate --------------------------------------------------------------------------------------


def test_boilerplate_lines_never_inside_a_paragraph(small_corpus: Path, settings: Settings) -> None:
    extra = "# Extra\n\nFirst paragraph.\nSee also: the other page\nShare this article\nSecond part.\n"
    write(small_corpus, "extra.md", extra)
    found, _ = sources(small_corpus, settings)
    for source in found:
        doc = load_document(source, settings)
        for paragraph in paragraphs(doc):
            assert "see also" not in paragraph.lower()
            assert "share this" not in paragraph.lower()
    extra_doc = load_document(next(s for s in found if s.doc_id == "extra.md"), settings)
    assert paragraphs(extra_doc) == ["First paragraph.", "Second part."]


def test_boilerplate_line_splits_a_plain_text_paragraph(tmp_path: Path, settings: Settings) -> None:
    text = "Treaty Basics\n\nThe treaty.\nSee also  Other stuff\nMore body text here.\n"
    doc = load(tmp_path, "a.txt", text, settings)
    assert paragraphs(doc) == ["The treaty.", "More body text here."]


def test_custom_boilerplate_pattern(tmp_path: Path) -> None:
    settings = Settings(boilerplate=[r"^\s*sponsored by\b"])
    doc = load(tmp_path, "a.txt", "Body text here.\nSponsored by ACME\nSee also kept now.\n", settings)
    assert paragraphs(doc) == ["Body text here.", "See also kept now."]


def test_invalid_boilerplate_pattern_fails_with_the_pattern_in_the_message() -> None:
    with pytest.raises(ValueError, match=r"boilerplate pattern '\(' is not a valid regex"):
        Settings(boilerplate=["("])


# --- PDF ----------------------------------------------------------------------------------------------


def text_pdf(lines: list[str]) -> bytes:
    """A minimal one-page PDF (Helvetica, one line per entry) with a correct cross-reference table."""
    content = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        content.append(f"({escaped}) Tj T*")
    content.append("ET")
    stream = "\n".join(content).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_pdf_text_heading_and_body(tmp_path: Path, settings: Settings) -> None:
    pdf = text_pdf(["Treaty History", "The treaty was signed in 1992 in Tashkent.", "It became an organisation later."])
    doc = load(tmp_path, "history.pdf", pdf, settings)
    assert doc.title == "Treaty History"
    assert [s.title for s in doc.sections] == ["Treaty History"]
    assert paragraphs(doc) == ["The treaty was signed in 1992 in Tashkent.\nIt became an organisation later."]
    assert_offsets_valid(doc)


# --- skipped files ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        pytest.param("binary.txt", b"abc\x00def", "binary file (contains NUL bytes)", id="nul-bytes"),
        pytest.param("latin1.txt", "café au lait".encode("latin-1"), "not valid UTF-8 text (byte 3)", id="bad-utf8"),
        pytest.param("empty.md", b"", "empty file", id="empty"),
        pytest.param("blank.txt", b"  \n\n\t\n", "empty file", id="whitespace-only"),
        pytest.param("boiler.txt", b"See also  Something\n\n----\n", "no text content", id="boilerplate-only"),
        pytest.param("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "PDF could not be parsed", id="broken-pdf"),
    ],
)
def test_unusable_file_raises_corpus_error_with_reason(
    tmp_path: Path, settings: Settings, name: str, content: bytes, reason: str
) -> None:
    with pytest.raises(CorpusError) as caught:
        load(tmp_path, name, content, settings)
    assert reason in str(caught.value)


def test_skipped_files_are_reported_with_reasons(tmp_path: Path, settings: Settings, fake_embedder) -> None:
    corpus = tmp_path / "corpus"
    write(corpus, "good.txt", "Good Heading\n\nA perfectly good sentence of body text.\n")
    write(corpus, "binary.txt", b"abc\x00def")
    write(corpus, "latin1.txt", "café".encode("latin-1"))
    write(corpus, "empty.md", b"")
    write(corpus, "image.png", b"\x89PNG\r\n")
    write(corpus, "README", b"no suffix")
    write(corpus, "broken.pdf", b"%PDF-1.4\ngarbage")
    report, _ = indexing.reindex(corpus, tmp_path / "index", settings, fake_embedder)
    reasons = {s.path: s.reason for s in report.skipped}
    assert report.added == ["good.txt"]
    assert set(reasons) == {"binary.txt", "latin1.txt", "empty.md", "image.png", "README", "broken.pdf"}
    assert reasons["binary.txt"] == "binary file (contains NUL bytes)"
    assert reasons["latin1.txt"].startswith("not valid UTF-8 text")
    assert reasons["empty.md"] == "empty file"
    assert reasons["image.png"] == "unsupported file type .png"
    assert reasons["README"] == "unsupported file type (none)"
    assert reasons["broken.pdf"].startswith("PDF could not be parsed")


def test_too_large_file_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, "big.txt", "word " * 100)
    found, skipped = sources(tmp_path, Settings(max_file_bytes=100))
    assert found == []
    reason = "too large (500 bytes; the limit is 100 bytes, Settings.max_file_bytes): split it into smaller files"
    assert skipped == [SkippedFile(path="big.txt", reason=reason)]


def test_hidden_files_and_folders_are_ignored(tmp_path: Path, settings: Settings) -> None:
    write(tmp_path, "visible.txt", "Visible text.\n")
    write(tmp_path, ".hidden.txt", "Hidden text.\n")
    write(tmp_path, ".git/notes.txt", "Hidden folder text.\n")
    write(tmp_path, "sub/.secret.md", "# Hidden\n")
    found, skipped = sources(tmp_path, settings)
    assert [s.doc_id for s in found] == ["visible.txt"]
    assert skipped == []


def test_sources_come_in_a_stable_sorted_order(tmp_path: Path, settings: Settings) -> None:
    for name in ["b.txt", "a/z.txt", "a.txt", "c/d.md"]:
        write(tmp_path, name, "Text.\n")
    found, _ = sources(tmp_path, settings)
    assert [s.doc_id for s in found] == ["a.txt", "b.txt", "a/z.txt", "c/d.md"]


def test_missing_corpus_folder_raises_corpus_error(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(CorpusError, match="does not exist; create it"):
        sources(tmp_path / "nope", settings)


def test_directory_symlink_loop_does_not_hang(tmp_path: Path, settings: Settings) -> None:
    corpus = tmp_path / "corpus"
    write(corpus, "sub/inner.txt", "Inner text.\n")
    write(corpus, "top.txt", "Top text.\n")
    os.symlink(corpus, corpus / "sub" / "loop")  # corpus/sub/loop -> corpus
    os.symlink("..", corpus / "sub" / "parent")  # relative link to the parent folder
    result: list[list[str]] = []
    worker = threading.Thread(
        target=lambda: result.append([s.doc_id for s in sources(corpus, settings)[0]]), daemon=True
    )
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "walking a corpus with a symlink loop did not finish"
    assert result == [["top.txt", "sub/inner.txt"]]


def test_broken_file_symlink_is_skipped_as_unreadable(tmp_path: Path, settings: Settings) -> None:
    write(tmp_path, "ok.txt", "Fine.\n")
    os.symlink(tmp_path / "gone.txt", tmp_path / "dangling.txt")
    found, skipped = sources(tmp_path, settings)
    assert [s.doc_id for s in found] == ["ok.txt"]
    assert [s.path for s in skipped] == ["dangling.txt"]
    assert skipped[0].reason.startswith("unreadable")
