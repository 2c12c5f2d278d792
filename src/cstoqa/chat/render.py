"""Answers as chat Markdown and the sources panel as HTML, with every piece of document text escaped.

Document text is data, never markup: a corpus file holding ``<script>`` or ``<img onerror=…>`` must show as
those characters. The sources panel (a ``gr.HTML``, which Gradio does not sanitise) therefore builds all of
its markup here from ``html.escape``d text; the chat reply escapes Markdown syntax as well, so a quote
cannot turn into a link, an image or a heading.

Highlighting works on offsets, not on searching for the quote: a citation's ``start``/``end`` (the cited
sentence) and ``answer_start``/``answer_end`` (the short answer inside it) index the document's stored
text, and the passage shown around them is the indexed chunk that contains the sentence.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cstoqa.types import Answer, Chunk, Citation, Document, Passage

if TYPE_CHECKING:
    from cstoqa.chat.watcher import IndexStatus
    from cstoqa.index.store import IndexData

CONTEXT_CHARS = 300
SNIPPET_CHARS = 120
CHAT_PASSAGES = 3  # closest passages listed in an abstention's chat reply; the panel shows them all

EMPTY_SOURCES = (
    '<div class="cstoqa-sources cstoqa-empty">The sources of each answer appear here: every citation with its '
    "document, section and passage, the cited sentence highlighted.</div>"
)

SOURCES_CSS = """
#cstoqa-chat strong { font-weight: 600; }  /* the bundled font has 400 and 600: 700 would fall back */
.cstoqa-sources { font-size: 0.95rem; line-height: 1.5; }
.cstoqa-sources.cstoqa-empty { color: var(--body-text-color-subdued); font-style: italic; }
.cstoqa-lead { margin: 0 0 0.5rem 0; font-weight: 600; }
.cstoqa-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.5rem 0.75rem;
  margin-bottom: 0.6rem; background: var(--background-fill-secondary); }
.cstoqa-source > summary { cursor: pointer; font-weight: 600; }
.cstoqa-n { color: var(--color-accent); margin-right: 0.25rem; }
.cstoqa-section { font-weight: 400; color: var(--body-text-color-subdued); }
.cstoqa-passage { white-space: pre-wrap; margin: 0.5rem 0 0.25rem 0; }
.cstoqa-passage mark.cstoqa-quote { background: #fde68a; color: #111827; padding: 0 1px; border-radius: 2px; }
.cstoqa-passage .cstoqa-answer { background: #f59e0b; color: #111827; font-weight: 700; }
.cstoqa-where { font-size: 0.8rem; color: var(--body-text-color-subdued); }
.cstoqa-more > summary { cursor: pointer; color: var(--body-text-color-subdued); margin-top: 0.4rem; }
"""

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|~$])")  # < > & are HTML-escaped instead
_LIST_START = re.compile(r"^(\s*\d+)([.)])")


def collapse(text: str) -> str:
    """One line: runs of whitespace (newlines included) become one space."""
    return " ".join(text.split())


def md_escape(text: str) -> str:
    """Text that renders as itself in Markdown, on one line: syntax characters backslash-escaped, then
    HTML-escaped. Whitespace runs become one space but are kept at the ends, so pieces can be joined."""
    text = _MD_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", text))
    return html.escape(_LIST_START.sub(r"\1\\\2", text), quote=False)


def md_bold(text: str) -> str:
    """Bold Markdown for any text: ``**…**`` when it starts and ends with a letter or digit (always valid
    emphasis), else an HTML ``<strong>``, which the chat's sanitiser keeps."""
    text = collapse(text)
    if text and text[0].isalnum() and text[-1].isalnum():
        return f"**{md_escape(text)}**"
    return f"<strong>{md_escape(text)}</strong>"


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def percent(confidence: float) -> str:
    return f"{round(confidence * 100)}%"


def confidence_words(confidence: float) -> str:
    """The calibrated confidence as a percentage with a word: high from 75%, medium from 50%, else low."""
    word = "high" if confidence >= 0.75 else "medium" if confidence >= 0.5 else "low"
    return f"{percent(confidence)} ({word})"


# ----------------------------------------------------------------------------------------------------------
# Highlighting by offsets


def highlight(text: str, base: int, quote: tuple[int, int], answer: tuple[int, int] | None = None) -> str:
    """Escaped HTML of ``text`` (which starts at document offset ``base``) with the quote in ``<mark>``.

    ``quote`` and ``answer`` are document offsets; both are clipped to the text, the answer to the quote. The
    answer, when given, is wrapped in ``<strong class="cstoqa-answer">`` inside the mark.
    """
    q0 = min(max(quote[0] - base, 0), len(text))
    q1 = min(max(quote[1] - base, q0), len(text))
    inner = text[q0:q1]
    if answer is not None and answer[0] < answer[1]:
        a0 = min(max(answer[0] - base, q0), q1) - q0
        a1 = min(max(answer[1] - base, q0), q1) - q0
        marked = (
            esc(inner[:a0]) + '<strong class="cstoqa-answer">' + esc(inner[a0:a1]) + "</strong>" + esc(inner[a1:])
            if a0 < a1
            else esc(inner)
        )
    else:
        marked = esc(inner)
    return esc(text[:q0]) + '<mark class="cstoqa-quote">' + marked + "</mark>" + esc(text[q1:])


@dataclass(frozen=True)
class Context:
    """A stretch of a document's text shown around a citation: ``text == doc.text[start:start + len(text)]``."""

    text: str
    start: int
    clipped_left: bool = False
    clipped_right: bool = False


def citation_context(
    citation: Citation, documents: dict[str, Document] | None, chunks: Sequence[Chunk] = ()
) -> Context:
    """The indexed chunk holding the cited sentence, or the sentence with some text either side.

    When the document is gone or its text no longer matches the quote (a reindex swapped in between the
    question and the rendering), only the quote itself is shown: offsets are never applied to other text.
    """
    doc = (documents or {}).get(citation.doc_id)
    if doc is None or doc.text[citation.start : citation.end] != citation.quote:
        return Context(citation.quote, citation.start)
    around = [c for c in chunks if c.doc_id == citation.doc_id and c.start <= citation.start and c.end >= citation.end]
    if around:
        chunk = min(around, key=lambda c: c.end - c.start)
        return Context(doc.text[chunk.start : chunk.end], chunk.start)
    start = max(citation.start - CONTEXT_CHARS, 0)
    end = min(citation.end + CONTEXT_CHARS, len(doc.text))
    if start > 0:  # snap to a word boundary so the context does not open mid-word
        space = doc.text.find(" ", start, citation.start)
        start = space + 1 if space != -1 else start
    if end < len(doc.text):
        space = doc.text.rfind(" ", citation.end, end)
        end = space if space != -1 else end
    return Context(doc.text[start:end], start, start > 0, end < len(doc.text))


# ----------------------------------------------------------------------------------------------------------
# The chat reply (Markdown)


def _quote_markdown(c: Citation) -> str:
    """The cited sentence on one line, the short answer inside it in bold."""
    text = c.quote
    if c.answer_start is not None and c.answer_end is not None and c.start <= c.answer_start < c.answer_end <= c.end:
        a0, a1 = c.answer_start - c.start, c.answer_end - c.start
        return md_escape(text[:a0]).lstrip() + md_bold(text[a0:a1]) + md_escape(text[a1:]).rstrip()
    return md_escape(text).strip()


def _place(section: str, doc_id: str) -> str:
    """Where a passage comes from, briefly: its section and file (the sources panel shows the full title)."""
    return f"{md_escape(collapse(section))} ({md_escape(doc_id)})"


def _cited(c: Citation) -> str:
    return _place(c.section or c.title, c.doc_id)


def reply_markdown(answer: Answer, interpreted_as: str | None = None) -> str:
    """The chat reply: short answer, supporting sentences with [n] markers, confidence; or a plain abstention."""
    parts: list[str] = []
    if interpreted_as:
        parts.append(f"*Interpreted as: {md_escape(collapse(interpreted_as))}*")
    if answer.abstained:
        return "\n\n".join(parts + _abstention_markdown(answer))
    if answer.text:
        parts.append(md_bold(answer.text))
    parts.append(
        "\n".join(f"> {_quote_markdown(c)} \\[{i}\\]" for i, c in enumerate(answer.citations, start=1))
        if answer.citations
        else md_escape(answer.text or "")
    )
    sources = " · ".join(f"\\[{i}\\] {_cited(c)}" for i, c in enumerate(answer.citations, start=1))
    parts.append(f"Confidence {confidence_words(answer.confidence)}" + (f" · {sources}" if sources else ""))
    return "\n\n".join(parts)


def _abstention_markdown(answer: Answer) -> list[str]:
    message = collapse(answer.message)
    if not answer.passages:  # nothing retrieved: usually a question that could not be read
        return [md_escape(message[:1].upper() + message[1:]) if message else "The sources don't say."]
    lead = "The sources don't say."
    rest = message[len(lead) :].strip() if message.lower().startswith("the sources don") else message
    lines = [f"**{md_escape(lead)}**" + (f" {md_escape(rest)}" if rest else "")]
    closest = [
        f"\\[{i}\\] {_place(p.section or p.title, p.doc_id)}: “{md_escape(snippet(p.text))}”"
        for i, p in enumerate(answer.passages[:CHAT_PASSAGES], start=1)
    ]
    more = len(answer.passages) - CHAT_PASSAGES
    lines.append(
        "Closest passages"
        + (f" (all {len(answer.passages)} in the Sources panel)" if more > 0 else "")
        + ":\n\n"
        + "\n".join(f"- {line}" for line in closest)
    )
    return lines


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = collapse(text)
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit] + " …"


def error_markdown(message: str) -> str:
    return f"**Sorry, that did not work:** {md_escape(collapse(message))}"


# ----------------------------------------------------------------------------------------------------------
# The sources panel (HTML)


def _summary(n: int, title: str, section: str) -> str:
    section_html = f' <span class="cstoqa-section">§ {esc(section)}</span>' if section and section != title else ""
    title_html = f'<span class="cstoqa-title">{esc(title)}</span>'
    return f'<summary><span class="cstoqa-n">[{n}]</span> {title_html}{section_html}</summary>'


def _location(doc_id: str, start: int, end: int, what: str) -> str:
    return f'<div class="cstoqa-where">{esc(doc_id)} · {what} characters {start}–{end}</div>'


def citation_card(n: int, citation: Citation, data: IndexData | None) -> str:
    context = citation_context(citation, data.documents if data else None, data.chunks if data else ())
    answer = (
        (citation.answer_start, citation.answer_end)
        if citation.answer_start is not None and citation.answer_end is not None
        else None
    )
    body = highlight(context.text, context.start, (citation.start, citation.end), answer)
    body = ("… " if context.clipped_left else "") + body + (" …" if context.clipped_right else "")
    return (
        f'<details class="cstoqa-source" id="cstoqa-source-{n}" open>{_summary(n, citation.title, citation.section)}'
        f'<div class="cstoqa-passage">{body}</div>'
        f"{_location(citation.doc_id, citation.start, citation.end, 'cited sentence at')}</details>"
    )


def passage_card(n: int, passage: Passage, is_open: bool) -> str:
    return (
        f'<details class="cstoqa-source" id="cstoqa-passage-{n}"{" open" if is_open else ""}>'
        f"{_summary(n, passage.title, passage.section)}"
        f'<div class="cstoqa-passage">{esc(passage.text)}</div>'
        f"{_location(passage.doc_id, passage.start, passage.end, 'passage at')}</details>"
    )


def sources_html(answer: Answer, data: IndexData | None = None) -> str:
    """The sources panel for one answer; ``data`` supplies the passages around citations when it still matches."""
    if answer.abstained:
        if not answer.passages:
            return EMPTY_SOURCES
        cards = "".join(passage_card(i, p, i == 1) for i, p in enumerate(answer.passages, start=1))
        return (
            '<div class="cstoqa-sources"><p class="cstoqa-lead">The sources don\'t answer this. Closest passages:</p>'
            f"{cards}</div>"
        )
    cards = "".join(citation_card(i, c, data) for i, c in enumerate(answer.citations, start=1))
    others = [p for p in answer.passages if not any(_covers(p, c) for c in answer.citations)]
    more = ""
    if others:
        inner = "".join(passage_card(i, p, False) for i, p in enumerate(others, start=len(answer.citations) + 1))
        more = (
            f'<details class="cstoqa-more"><summary>Other retrieved passages ({len(others)})</summary>{inner}</details>'
        )
    return f'<div class="cstoqa-sources">{cards}{more}</div>'


def _covers(passage: Passage, citation: Citation) -> bool:
    return passage.doc_id == citation.doc_id and passage.start <= citation.start and passage.end >= citation.end


# ----------------------------------------------------------------------------------------------------------
# The status line


def age(then: datetime | None, now: datetime | None = None) -> str:
    if then is None:
        return "at an unknown time"
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    if seconds < 10:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def status_markdown(status: IndexStatus, now: datetime | None = None) -> str:
    """One line: when the index was built, what it holds, and whether a reindex is running or failed."""
    built = (
        f"Index built {md_escape(status.built_at.strftime('%Y-%m-%d %H:%M %Z').strip())} ({age(status.built_at, now)})"
        if status.built_at
        else "Index build time unknown"
    )
    parts = [
        built,
        f"{plural(status.documents, 'document')}, {plural(status.chunks, 'passage')}",
    ]
    if status.reindexing:
        parts.append("reindexing… (questions are answered from the current index meanwhile)")
    elif status.watching:
        parts.append("watching the corpus for changes")
    line = " · ".join(parts)
    if status.last_error:
        line += f"  \n**Last reindex failed:** {md_escape(status.last_error)}"
    return line


def report_markdown(report: object) -> str:
    """A reindex report in a sentence, for the notice after the Reindex button."""
    added, changed, removed = (len(getattr(report, k, [])) for k in ("added", "changed", "removed"))
    skipped = len(getattr(report, "skipped", []))
    seconds = getattr(report, "seconds", 0.0)
    if not (added or changed or removed or getattr(report, "rebuilt", False)):
        return f"The index is up to date ({skipped} files skipped)." if skipped else "The index is up to date."
    return f"Reindexed in {seconds:.1f} s: {added} added, {changed} changed, {removed} removed" + (
        f", {skipped} skipped." if skipped else "."
    )
