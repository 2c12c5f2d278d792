"""Stage 2: sentences and chunks with exact offsets, sized by words, never crossing a section."""

from __future__ import annotations

import hashlib
from itertools import pairwise
from pathlib import Path

import pytest
from pydantic import ValidationError

from cstoqa.chunking import chunk_document, embedding_text, split_sentences
from cstoqa.ingest import SourceFile, load_document
from cstoqa.settings import Settings
from cstoqa.types import Document


def make_doc(text: str, name: str = "doc.txt", settings: Settings | None = None) -> Document:
    data = text.encode()
    source = SourceFile(doc_id=name, path=Path(name), content_hash=hashlib.sha256(data).hexdigest(), data=data)
    return load_document(source, settings or Settings())


def sentences_of(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text, 0, len(text))]


def test_abbreviations_stay_inside_a_sentence() -> None:
    text = "Members include states, e.g. Armenia and Belarus, in the region. The U.S. is not a member. It ends here."
    assert sentences_of(text) == [
        "Members include states, e.g. Armenia and Belarus, in the region.",
        "The U.S. is not a member.",
        "It ends here.",
    ]


def test_sentence_offsets_are_relative_to_the_whole_text() -> None:
    text = "IGNORED PREFIX. First one. Second one.  "
    start = text.index("First")
    spans = split_sentences(text, start, len(text))
    assert [text[s:e] for s, e in spans] == ["First one.", "Second one."]
    assert spans[0][0] == start


def test_bullet_markers_are_trimmed_from_sentences() -> None:
    assert sentences_of("- First bullet sentence here.") == ["First bullet sentence here."]
    assert sentences_of("• Dot bullet.") == ["Dot bullet."]
    assert sentences_of("2) Parenthesised number item.") == ["Parenthesised number item."]


def test_numbered_list_marker_is_not_a_sentence() -> None:
    assert sentences_of("1. Open the treaty text first.") == ["Open the treaty text first."]


def test_a_list_marker_inside_a_document_is_trimmed_too() -> None:
    text = "Key aspects include:\n\n  1. Legal Framework: The treaty sets the rules."
    start = text.index("  1.")
    spans = split_sentences(text, start, len(text))
    assert [text[s:e] for s, e in spans] == ["Legal Framework: The treaty sets the rules."]


def test_offsets_exact_on_a_handmade_example() -> None:
    text = (
        "Treaty Basics\n"
        "\n"
        "The treaty was signed in 1992. It has six members, e.g. Armenia.\n"
        "\n"
        "The U.S. is not one of them.\n"
        "\n"
        "Membership\n"
        "\n"
        "Observers may attend meetings.\n"
    )
    doc = make_doc(text)
    chunks, sentences = chunk_document(doc, chunk_words=120, overlap_sentences=1)

    first = text.index("The treaty")
    second = text.index("It has")
    third = text.index("The U.S.")
    fourth = text.index("Observers")
    assert [(s.start, s.end, s.section) for s in sentences] == [
        (first, first + len("The treaty was signed in 1992."), "Treaty Basics"),
        (second, second + len("It has six members, e.g. Armenia."), "Treaty Basics"),
        (third, third + len("The U.S. is not one of them."), "Treaty Basics"),
        (fourth, fourth + len("Observers may attend meetings."), "Membership"),
    ]
    assert [(c.start, c.end, c.section, c.sentence_ids) for c in chunks] == [
        (first, third + len("The U.S. is not one of them."), "Treaty Basics", [0, 1, 2]),
        (fourth, fourth + len("Observers may attend meetings."), "Membership", [3]),
    ]
    assert chunks[0].text == (
        "The treaty was signed in 1992. It has six members, e.g. Armenia.\n\nThe U.S. is not one of them."
    )
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)
    assert all(doc.text[s.start : s.end] == s.text for s in sentences)
    assert all(c.doc_id == "doc.txt" and c.title == "Treaty Basics" for c in chunks)


def test_section_title_is_embedded_but_not_part_of_the_chunk_text() -> None:
    doc = make_doc("Membership Rules\n\nObservers may attend meetings without a vote.\n")
    (chunk,), _ = chunk_document(doc, chunk_words=120, overlap_sentences=0)
    assert chunk.section == "Membership Rules"
    assert "Membership Rules" not in chunk.text
    assert embedding_text(chunk) == "Membership Rules\nObservers may attend meetings without a vote."


def five_word_sentences(n: int) -> str:
    return "Sizing Test\n\n" + " ".join(f"Sentence number {i} has words." for i in range(n)) + "\n"


@pytest.mark.parametrize("chunk_words", [11, 15, 24, 60])
@pytest.mark.parametrize("overlap", [0, 1, 2])
def test_chunks_respect_target_size_and_overlap(chunk_words: int, overlap: int) -> None:
    doc = make_doc(five_word_sentences(20))
    chunks, sentences = chunk_document(doc, chunk_words=chunk_words, overlap_sentences=overlap)
    assert len(sentences) == 20 and all(len(s.text.split()) == 5 for s in sentences)
    per_chunk = chunk_words // 5
    repeated = min(overlap, per_chunk - 1)  # a chunk must move on by at least one sentence
    for chunk in chunks:
        assert len(chunk.text.split()) <= chunk_words
        assert len(chunk.sentence_ids) == per_chunk or chunk is chunks[-1]
    for before, after in pairwise(chunks):
        shared = sorted(set(before.sentence_ids) & set(after.sentence_ids))
        assert shared == before.sentence_ids[len(before.sentence_ids) - repeated :][:repeated]
        assert after.sentence_ids[0] == before.sentence_ids[-1] + 1 - repeated
    assert sorted({i for c in chunks for i in c.sentence_ids}) == list(range(20))
    assert chunks[-1].sentence_ids[-1] == 19


def test_overlap_never_stalls_when_a_chunk_holds_fewer_sentences_than_the_overlap() -> None:
    long_sentence = " ".join(["word"] * 30) + "."
    doc = make_doc(f"Heading Here\n\n{long_sentence} Short one here. Another short one.\n")
    chunks, _ = chunk_document(doc, chunk_words=12, overlap_sentences=3)
    assert [c.sentence_ids for c in chunks] == [[0], [1, 2]]  # an over-long sentence is a chunk of its own


def test_chunks_never_cross_a_section_or_a_boilerplate_line() -> None:
    text = (
        "First Part\n\nAlpha sentence one. Alpha sentence two.\n\nSee also  Something Else\n\n"
        "Beta sentence one.\n\nSecond Part\n\nGamma sentence one.\n"
    )
    doc = make_doc(text)
    chunks, _ = chunk_document(doc, chunk_words=120, overlap_sentences=1)
    assert [(c.section, c.text) for c in chunks] == [
        ("First Part", "Alpha sentence one. Alpha sentence two."),
        ("First Part", "Beta sentence one."),
        ("Second Part", "Gamma sentence one."),
    ]


def test_chunk_ids_are_content_hashes() -> None:
    text = "Heading Here\n\nOne sentence here. Another sentence here.\n"
    first, _ = chunk_document(make_doc(text), 120, 1)
    again, _ = chunk_document(make_doc(text), 120, 1)
    other, _ = chunk_document(make_doc(text.replace("Another", "A different")), 120, 1)
    renamed, _ = chunk_document(make_doc(text, name="other.txt"), 120, 1)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert first[0].chunk_id != other[0].chunk_id
    assert first[0].chunk_id != renamed[0].chunk_id


def test_markdown_chunks_follow_headings() -> None:
    doc = make_doc("# Forces\n\nThe force keeps the peace.\n\n## Deployment\n\nIt was deployed in 2022.\n", "a.md")
    chunks, _ = chunk_document(doc, 120, 1)
    assert [(c.section, c.text, c.title) for c in chunks] == [
        ("Forces", "The force keeps the peace.", "Forces"),
        ("Deployment", "It was deployed in 2022.", "Forces"),
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("chunk_words", 10, "greater than 10"), ("overlap_sentences", -1, "greater than or equal to 0")],
)
def test_bad_chunk_settings_fail_when_constructed(field: str, value: int, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings.model_validate({field: value})
