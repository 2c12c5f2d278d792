"""Property: for any document, every chunk and sentence quotes its source exactly and never holds boilerplate.

Generated documents mix headings, multi-line paragraphs, bullets, "See also" lines, rules, blank lines,
CRLF line endings, non-ASCII words and odd whitespace, in plain text and Markdown.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from cstoqa.chunking import chunk_document
from cstoqa.errors import CorpusError
from cstoqa.ingest import SourceFile, load_document
from cstoqa.ingest.boilerplate import BoilerplateFilter
from cstoqa.settings import Settings

SETTINGS = Settings(chunk_words=12, overlap_sentences=1)
BOILERPLATE = BoilerplateFilter(SETTINGS.boilerplate)

WORDS = [
    "treaty",
    "Treaty",
    "CSTO",
    "member",
    "states",
    "e.g.",
    "U.S.",
    "Dr.",
    "café",
    "Zürich",
    "Москва",
    "東京",
    "naïve",
    "2002",
    "1.5",
    "x",
    "a",
    "Observer",
    "(note)",
    "“quoted”",
    "it's",
    "see",
    "also",
    "share",
]
PUNCT = ["", "", "", ",", ";", ":", ".", "!", "?", "…", " —", "."]
SPACES = [" ", " ", " ", "  ", "\t", "\u00a0"]

word = st.sampled_from(WORDS)
words_with_punct = st.lists(st.tuples(word, st.sampled_from(PUNCT), st.sampled_from(SPACES)), min_size=1, max_size=14)


@st.composite
def body_line(draw: st.DrawFn) -> str:
    parts = draw(words_with_punct)
    return "".join(w + p + s for w, p, s in parts).rstrip(" \t\u00a0") + draw(st.sampled_from([".", ".", "?", "", ":"]))


heading_text = st.lists(
    st.sampled_from(["Treaty", "History", "Membership", "Café", "Rules", "Москва", "2002"]), min_size=1, max_size=4
).map(" ".join)

block = st.one_of(
    heading_text.map(lambda h: ("heading", h)),
    st.lists(body_line(), min_size=1, max_size=4).map(lambda ls: ("para", "\n".join(ls))),
    body_line().map(lambda line: ("para", f"- {line}")),
    body_line().map(lambda line: ("para", f"1. {line}")),
    st.sampled_from(
        [
            "See also  Something Else",
            "See also: the other page",
            "  see also more",
            "Share this article",
            "Advertisement",
            "Related: other stories",
            "Copyright 2024 Someone",
        ]
    ).map(lambda b: ("boiler", b)),
    st.sampled_from(["----", "***", "", "   ", "\t"]).map(lambda r: ("rule", r)),
)


@st.composite
def document(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from([".txt", ".md"]))
    blocks = draw(st.lists(block, min_size=1, max_size=12))
    lines: list[str] = []
    for kind, text in blocks:
        if kind == "heading" and suffix == ".md":
            text = "#" * draw(st.integers(1, 3)) + " " + text
        lines.append(text)
        if kind == "boiler" and draw(st.booleans()):
            continue  # boilerplate glued to the next block, no blank line in between
        lines.extend([""] * draw(st.integers(0, 2)))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return suffix, newline.join(lines).encode("utf-8")


def boilerplate_ranges(text: str) -> list[tuple[int, int]]:
    ranges, offset = [], 0
    for line in text.split("\n"):
        if BOILERPLATE.is_boilerplate(line) and line.strip():
            ranges.append((offset, offset + len(line)))
        offset += len(line) + 1
    return ranges


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@hyp_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document())
def test_offsets_quote_the_source_and_skip_boilerplate(generated: tuple[str, bytes]) -> None:
    suffix, data = generated
    source = SourceFile(
        doc_id=f"doc{suffix}", path=Path(f"doc{suffix}"), content_hash=hashlib.sha256(data).hexdigest(), data=data
    )
    try:
        doc = load_document(source, SETTINGS)
    except CorpusError:
        return  # nothing but blank lines, rules and boilerplate
    chunks, sentences = chunk_document(doc, SETTINGS.chunk_words, SETTINGS.overlap_sentences)
    assert "\r" not in doc.text
    boiler = boilerplate_ranges(doc.text)

    for sentence in sentences:
        assert doc.text[sentence.start : sentence.end] == sentence.text
        assert sentence.text and sentence.text == sentence.text.strip()
        assert not any(overlaps((sentence.start, sentence.end), b) for b in boiler), sentence.text

    covered: set[int] = set()
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.sentence_ids, chunk
        assert not any(overlaps((chunk.start, chunk.end), b) for b in boiler), chunk.text
        for i in chunk.sentence_ids:
            sentence = sentences[i]
            assert chunk.start <= sentence.start <= sentence.end <= chunk.end
            assert sentence.section == chunk.section
        assert chunk.sentence_ids == sorted(chunk.sentence_ids)
        assert sentences[chunk.sentence_ids[0]].start == chunk.start
        assert sentences[chunk.sentence_ids[-1]].end == chunk.end
        # one section holds the whole chunk
        homes = [s for s in doc.sections if s.start <= chunk.start and chunk.end <= s.end]
        assert len(homes) == 1 and homes[0].title == chunk.section, chunk
        covered.update(chunk.sentence_ids)
    assert covered == set(range(len(sentences))), "every sentence belongs to some chunk"
