"""Find sections and paragraphs in stored text, skipping boilerplate lines.

Formats with heading markup (Markdown, HTML) pass their headings in; plain text and PDF get
heading-like lines detected: short, no closing punctuation, not a list item, standing alone
after a blank line and followed by body text.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from cstoqa.ingest.boilerplate import BoilerplateFilter
from cstoqa.ingest.formats import Heading
from cstoqa.types import Section

LIST_ITEM = re.compile(r"^\s*([•●▪◦\-*+–]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s+")


def list_marker_end(text: str, start: int, end: int) -> int | None:
    """Where the list marker ("1. ", "• ") opening ``text[start:end]`` ends, or None.

    ``LIST_ITEM.match(text, start)`` would never match past position 0: ``^`` ignores ``pos``.
    """
    marker = LIST_ITEM.match(text[start:end])
    return start + marker.end() if marker else None


_WORDY = re.compile(r"\w")
_CLOSING_PUNCT = tuple(".!?,;:…")


@dataclass(frozen=True)
class Line:
    start: int
    end: int
    text: str

    @property
    def blank(self) -> bool:
        return not self.text.strip()

    @property
    def stripped_span(self) -> tuple[int, int]:
        lead = len(self.text) - len(self.text.lstrip())
        return self.start + lead, self.start + len(self.text.rstrip())


def _drop_noise(line: Line, boilerplate: BoilerplateFilter) -> Line:
    """Blank out boilerplate and lines without a single letter or digit (rules, underlines)."""
    if boilerplate.is_boilerplate(line.text) or not _WORDY.search(line.text):
        return Line(line.start, line.end, "")
    return line


def split_lines(text: str) -> list[Line]:
    lines, offset = [], 0
    for raw in text.split("\n"):
        lines.append(Line(offset, offset + len(raw), raw))
        offset += len(raw) + 1
    return lines


def _is_body(line: Line, max_words: int) -> bool:
    words = line.text.split()
    return len(words) > max_words or line.text.rstrip().endswith(_CLOSING_PUNCT) or bool(LIST_ITEM.match(line.text))


def _looks_like_heading(lines: list[Line], i: int, following: Line | None, max_words: int) -> bool:
    """``following`` is the next non-blank line after ``lines[i]``, if any."""
    text = lines[i].text.strip()
    words = text.split()
    if not words or len(words) > max_words or text.endswith(_CLOSING_PUNCT) or LIST_ITEM.match(lines[i].text):
        return False
    if not (text[0].isupper() or text[0].isdigit()) or not any(c.isalpha() for c in text):
        return False
    if i > 0 and not lines[i - 1].blank:
        return False
    return following is not None and _is_body(following, max_words)


def _detected_headings(lines: list[Line], max_words: int) -> set[int]:
    """Heading-like lines, in one backward pass: a file of many short lines must not cost quadratic time."""
    found: set[int] = set()
    following: Line | None = None
    for i in range(len(lines) - 1, -1, -1):
        if _looks_like_heading(lines, i, following, max_words):
            found.add(i)
        if not lines[i].blank:
            following = lines[i]
    return found


def _marked_headings(lines: list[Line], headings: list[Heading]) -> dict[int, tuple[int, int]]:
    """Line number → the first heading span that starts on it (a span may start on the line's newline)."""
    starts = [line.start for line in lines]
    found: dict[int, tuple[int, int]] = {}
    for h in headings:
        found.setdefault(bisect_right(starts, h.start) - 1, (h.start, h.end))
    return found


def find_sections(
    text: str,
    default_title: str,
    boilerplate: BoilerplateFilter,
    headings: list[Heading] | None,
    max_heading_words: int,
) -> tuple[list[Section], str]:
    """Return the sections (each with its paragraphs) and the document title."""
    kept = [_drop_noise(line, boilerplate) for line in split_lines(text)]
    if headings is None:
        heading_at = {i: kept[i].stripped_span for i in sorted(_detected_headings(kept, max_heading_words))}
        first = next(iter(heading_at.values()), None)
    else:
        heading_at = _marked_headings(kept, headings)
        first = (headings[0].start, headings[0].end) if headings else None

    title = text[first[0] : first[1]].strip() if first else default_title
    sections: list[Section] = []
    current_title = title
    current: list[tuple[int, int]] = []

    def close() -> None:
        if current:
            sections.append(
                Section(title=current_title, start=current[0][0], end=current[-1][1], paragraphs=list(current))
            )

    para_start: int | None = None
    para_end = 0
    for i, line in enumerate(kept):
        starts_item = bool(LIST_ITEM.match(line.text))
        if para_start is not None and (line.blank or i in heading_at or starts_item):
            current.append((para_start, para_end))
            para_start = None
        if i in heading_at:
            close()
            start, end = heading_at[i]
            current_title, current = " ".join(text[start:end].split()), []
        elif not line.blank:
            start, end = line.stripped_span
            para_start = start if para_start is None else para_start
            para_end = end
    if para_start is not None:
        current.append((para_start, para_end))
    close()
    return sections, title
