"""Settings, validated when constructed so that a bad value fails with the fix in the message."""

from __future__ import annotations

import hashlib
import json
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_MODEL = "all-MiniLM-L6-v2"

# Lines of web residue that are not content: cross-links, share buttons, cookie banners.
DEFAULT_BOILERPLATE = [
    r"^\s*see also\b",
    r"^\s*(related|recommended|read more|further reading)\s*[:\-–—]",
    r"^\s*(share|tweet|pin it|print|email)( this)?( (article|page|post))?\s*$",
    r"^\s*(advertisement|sponsored( content)?)\s*$",
    r"^\s*(this (site|website) uses cookies|we use cookies)\b",
    r"^\s*(click here|subscribe( now)?|sign up)\b.{0,80}$",
    r"^\s*(previous|next)( (article|post|page))?\s*[:\-–—]",
    r"^\s*(copyright|©)\s",
]


class FusionWeights(BaseModel):
    """Reciprocal-rank-fusion weights of the three retrieval lists; a zero weight turns a list off."""

    model_config = ConfigDict(frozen=True)

    dense: float = Field(ge=0.0, description="Chunks by cosine.")
    sentence: float = Field(ge=0.0, description="Chunks by the cosine of their best sentence.")
    lexical: float = Field(ge=0.0, description="Chunks by BM25.")


class Settings(BaseModel):
    """Index settings (hashed into the manifest: changing one rebuilds) and query settings."""

    model_config = ConfigDict(frozen=True)

    model_name: str = DEFAULT_MODEL
    chunk_words: int = Field(default=120, gt=10, description="Target chunk size in words.")
    overlap_sentences: int = Field(default=1, ge=0, description="Sentences repeated between chunks.")
    max_heading_words: int = Field(default=14, gt=0)
    boilerplate: list[str] = Field(default_factory=lambda: list(DEFAULT_BOILERPLATE))
    approximate_above: int = Field(
        default=50_000, gt=0, description="Chunks above which FAISS uses HNSW: exact search costs 12.6 ms at 100k."
    )
    max_file_bytes: int = Field(
        default=16 * 2**20,
        gt=0,
        description="Larger files are skipped with a reason: 16 MB of text is ~2.5M words, ~1 GB of RAM to index.",
    )

    top_k: int = Field(default=5, gt=0, description="Passages shown with an answer.")
    reader_passages: int = Field(
        default=2,
        gt=0,
        description="Passages the reader reads: the calibration's choice on held-out articles (confidence.json).",
    )
    candidates: int = Field(default=40, gt=0, description="Hits taken from each retriever before fusion.")
    rrf_k: int = Field(default=60, gt=0)
    coverage_cut: float = Field(
        default=0.75,
        ge=0.0,
        le=1.0,
        description="A question whose analysed words the top BM25 passage holds fewer than this fraction of is "
        "fused with the paraphrase weights; fitted with the weights on the training pool (tune_retrieval).",
    )
    paraphrase_weights: FusionWeights = Field(
        default_factory=lambda: FusionWeights(dense=1.0, sentence=2.0, lexical=1.0),
        description="RRF weights when BM25 matches few of the question's words: the dense lists vote more.",
    )
    overlap_weights: FusionWeights = Field(
        default_factory=lambda: FusionWeights(dense=0.0, sentence=1.0, lexical=3.0),
        description="RRF weights when the top BM25 passage holds the question's words: BM25 leads.",
    )
    abstain_threshold: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Answers below this calibrated probability of being right abstain: 0.5 is the Bayes decision.",
    )
    max_question_chars: int = Field(default=2000, gt=0)
    follow_seconds: float = Field(
        default=2.0, ge=0.0, description="How often a server checks whether another process switched the index."
    )

    @field_validator("boilerplate")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"boilerplate pattern {pattern!r} is not a valid regex: {exc}") from exc
        return patterns

    def build_fingerprint(self) -> str:
        """Hash of everything that changes what an index holds; a change forces a full rebuild."""
        keys = ("model_name", "chunk_words", "overlap_sentences", "max_heading_words", "boilerplate")
        payload = json.dumps({k: getattr(self, k) for k in keys}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
