"""The data passed between pipeline stages.

Every model that points into a document carries ``start``/``end`` character offsets into that
document's stored text, so ``doc.text[start:end]`` reproduces its text exactly: that invariant is
what makes citations checkable.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Section(_Frozen):
    """A run of body text under one heading; ``start``/``end`` cover the body, not the heading."""

    title: str
    start: int
    end: int
    paragraphs: list[tuple[int, int]] = Field(default=[], description="Content blocks, boilerplate left out.")


class Document(_Frozen):
    doc_id: str = Field(description="Path relative to the corpus folder, with '/' separators.")
    title: str
    text: str = Field(description="The stored text every offset points into.")
    content_hash: str
    sections: list[Section] = []


class Sentence(_Frozen):
    doc_id: str
    section: str
    start: int
    end: int
    text: str


class Chunk(_Frozen):
    chunk_id: str = Field(description="Content hash of the document id, offsets and text.")
    doc_id: str
    title: str
    section: str
    start: int
    end: int
    text: str
    sentence_ids: list[int] = Field(description="Positions in the index's sentence table.")


class Passage(_Frozen):
    """A retrieved chunk with the evidence of how each retriever ranked it (ranks are 1-based)."""

    chunk: Chunk
    score: float
    dense_rank: int | None = None
    dense_score: float | None = None
    lexical_rank: int | None = None
    lexical_score: float | None = None

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def title(self) -> str:
        return self.chunk.title

    @property
    def section(self) -> str:
        return self.chunk.section

    @property
    def start(self) -> int:
        return self.chunk.start

    @property
    def end(self) -> int:
        return self.chunk.end

    @property
    def text(self) -> str:
        return self.chunk.text


class ReadSpan(_Frozen):
    """The reader's best span in one passage, in document offsets, with its evidence for and against."""

    passage: int = Field(description="Position of the passage in the list the reader was given.")
    doc_id: str
    start: int
    end: int
    text: str
    score: float = Field(description="Start plus end logit of the span.")
    null_score: float = Field(description="Start plus end logit of 'no answer in this passage'.")

    @classmethod
    def within(cls, passage: Passage, position: int, start: int, end: int, score: float, null: float) -> ReadSpan:
        """The span ``passage.text[start:end]`` in document offsets; ``position`` is the passage's place in the list."""
        return cls(
            passage=position,
            doc_id=passage.doc_id,
            start=passage.start + start,
            end=passage.start + end,
            text=passage.text[start:end],
            score=score,
            null_score=null,
        )

    @property
    def margin(self) -> float:
        return self.score - self.null_score


class Citation(_Frozen):
    """Evidence for an answer: ``quote`` is always ``doc.text[start:end]``."""

    doc_id: str
    title: str
    section: str
    start: int
    end: int
    quote: str
    answer_start: int | None = Field(
        default=None, description="Offsets of the short answer inside the document, when it is a span."
    )
    answer_end: int | None = None


class Answer(_Frozen):
    question: str
    text: str | None = Field(description="The extracted answer, or None when abstaining.")
    abstained: bool
    confidence: float = Field(ge=0.0, le=1.0)
    citations: list[Citation] = []
    passages: list[Passage] = []
    kind: Literal["span", "abstain"] = Field(description="A span copied from a source, or an abstention.")
    message: str = Field(default="", description="Why the assistant abstained, in words for the user.")


class SkippedFile(_Frozen):
    path: str
    reason: str


class IndexReport(BaseModel):
    added: list[str] = []
    changed: list[str] = []
    removed: list[str] = []
    unchanged: list[str] = []
    skipped: list[SkippedFile] = []
    chunks_embedded: int = 0
    sentences_embedded: int = 0
    total_documents: int = 0
    total_chunks: int = 0
    rebuilt: bool = False
    model_loaded: bool = False
    seconds: float = 0.0
    stages: dict[str, float] = Field(default={}, description="Seconds per indexing stage (scan, read, embed, …).")
    skipped_hashes: dict[str, str] = Field(default={}, exclude=True)

    @property
    def wrote_index(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.rebuilt)
