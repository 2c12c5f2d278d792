"""Stage 2: sections → sentences → chunks that follow sentence boundaries and never cross a section.

Sentences come from spaCy's rule-based sentencizer on top of its English tokenizer, which knows
abbreviations ("e.g.", "U.S.") and so does not split inside them as a bare regex would.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import TYPE_CHECKING

from cstoqa.ingest.structure import list_marker_end
from cstoqa.types import Chunk, Document, Sentence

if TYPE_CHECKING:
    from spacy.language import Language


@lru_cache(maxsize=1)
def _sentencizer() -> Language:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.max_length = 10**8
    return nlp


def split_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence offsets inside ``text[start:end]``, trimmed of whitespace; a leading list marker is left out."""
    marker = list_marker_end(text, start, end)
    if marker is not None and marker < end:
        start = marker
    spans = []
    for sent in _sentencizer()(text[start:end]).sents:
        s, e = start + sent.start_char, start + sent.end_char
        piece = text[s:e]
        s += len(piece) - len(piece.lstrip())
        e = s + len(text[s:e].rstrip())
        if e > s:
            spans.append((s, e))
    return spans


def _chunk_id(doc_id: str, start: int, end: int, text: str) -> str:
    return hashlib.sha256(f"{doc_id}\0{start}\0{end}\0{text}".encode()).hexdigest()[:20]


def chunk_document(doc: Document, chunk_words: int, overlap_sentences: int) -> tuple[list[Chunk], list[Sentence]]:
    """Chunk ``sentence_ids`` index into the returned sentence list.

    Paragraphs separated by dropped boilerplate are never joined, so no chunk contains dropped text.
    """
    sentences: list[Sentence] = []
    chunks: list[Chunk] = []
    for section in doc.sections:
        runs: list[list[int]] = []
        previous_end: int | None = None
        for p_start, p_end in section.paragraphs:
            if previous_end is None or doc.text[previous_end:p_start].strip():
                runs.append([])
            for s, e in split_sentences(doc.text, p_start, p_end):
                runs[-1].append(len(sentences))
                sentences.append(Sentence(doc_id=doc.doc_id, section=section.title, start=s, end=e, text=doc.text[s:e]))
            previous_end = p_end
        for run in runs:
            for group in _group(run, [len(sentences[i].text.split()) for i in run], chunk_words, overlap_sentences):
                start, end = sentences[group[0]].start, sentences[group[-1]].end
                text = doc.text[start:end]
                chunks.append(
                    Chunk(
                        chunk_id=_chunk_id(doc.doc_id, start, end, text),
                        doc_id=doc.doc_id,
                        title=doc.title,
                        section=section.title,
                        start=start,
                        end=end,
                        text=text,
                        sentence_ids=group,
                    )
                )
    return chunks, sentences


def _group(ids: list[int], words: list[int], target: int, overlap: int) -> list[list[int]]:
    """Greedy groups of about ``target`` words; each group repeats the last ``overlap`` sentences of the one before."""
    groups: list[list[int]] = []
    i = 0
    while i < len(ids):
        j, total = i, 0
        while j < len(ids) and (total == 0 or total + words[j] <= target):
            total += words[j]
            j += 1
        groups.append(ids[i:j])
        if j >= len(ids):
            break
        i = max(j - overlap, i + 1)
    return groups


def embedding_text(chunk: Chunk) -> str:
    """What is embedded and BM25-indexed: the section title gives body text the heading's context."""
    return f"{chunk.section}\n{chunk.text}"


def sentence_embedding_text(sentence: Sentence) -> str:
    """A sentence embedded with its section title, so "Established in 2002, the organization …" under
    "Overview of the CSTO" is still about the CSTO."""
    return f"{sentence.section}: {sentence.text}"
