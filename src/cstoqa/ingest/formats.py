"""Turn one file into stored text plus the headings its format marks explicitly.

Plain text and PDF carry no heading markup, so they return ``headings=None`` and the structure
stage detects heading-like lines instead.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from pydantic import BaseModel

from cstoqa.errors import CorpusError

SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf"}


class Heading(BaseModel):
    start: int
    end: int
    level: int


class Extracted(BaseModel):
    text: str
    headings: list[Heading] | None = None


def decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise CorpusError("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"not valid UTF-8 text (byte {exc.start})") from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


_MD_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_MD_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_MD_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def read_markdown(text: str) -> Extracted:
    headings: list[Heading] = []
    in_fence = False
    offset = 0
    previous: tuple[int, str] | None = None
    for line in text.split("\n"):
        if _MD_FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            atx = _MD_ATX.match(line)
            setext = _MD_SETEXT.match(line)
            if atx:
                headings.append(Heading(start=offset + atx.start(2), end=offset + atx.end(2), level=len(atx.group(1))))
            elif setext and previous and previous[1].strip() and not _MD_ATX.match(previous[1]):
                start = previous[0] + len(previous[1]) - len(previous[1].lstrip())
                end = previous[0] + len(previous[1].rstrip())
                headings.append(Heading(start=start, end=end, level=1 if setext.group(1)[0] == "=" else 2))
        previous = (offset, line)
        offset += len(line) + 1
    return Extracted(text=text, headings=headings)


_HTML_BLOCK = {
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "caption",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "main",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "td",
    "th",
    "tr",
    "ul",
}
_HTML_DROP = [
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "footer",
    "header",
    "aside",
    "form",
    "svg",
    "head",
    "iframe",
    "object",
    "button",
    "select",
]


def read_html(text: str) -> Extracted:
    """Readable text, one paragraph per block element; inline markup joins without adding spaces."""
    from bs4 import BeautifulSoup, Tag
    from bs4.element import NavigableString, PageElement

    soup = BeautifulSoup(text, "html.parser")
    title_tag = soup.find("title")
    page_title = " ".join(title_tag.get_text().split()) if title_tag else ""
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    blocks: list[tuple[str, int | None]] = []
    pending: list[str] = []

    def flush(level: int | None = None) -> None:
        block = " ".join("".join(pending).split())
        pending.clear()
        if block:
            blocks.append((block, level))

    # Depth first in document order with an explicit stack: a page nested thousands of tags deep must not
    # exhaust Python's recursion limit. An int or None on the stack closes a block (its heading level, if any).
    stack: list[PageElement | int | None] = list(reversed(soup.contents))
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, int):
            flush(item)
        elif isinstance(item, Tag):
            if item.name == "br":
                pending.append("\n")
                continue
            if item.name in _HTML_BLOCK:
                flush()
                stack.append(int(item.name[1]) if re.fullmatch(r"h[1-6]", item.name) else None)
            stack.extend(reversed(item.contents))
        elif type(item) is NavigableString:
            pending.append(str(item))
    flush()
    if page_title and not any(level == 1 for _, level in blocks):
        blocks.insert(0, (page_title, 1))
    headings, offset = [], 0
    for block, level in blocks:
        if level is not None:
            headings.append(Heading(start=offset, end=offset + len(block), level=level))
        offset += len(block) + 2
    return Extracted(text="\n\n".join(block for block, _ in blocks), headings=headings)


def read_pdf(data: bytes) -> Extracted:
    """Parse the bytes already read (and hashed), not the file again: it may have changed or gone since."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise CorpusError("encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
    except CorpusError:
        raise
    except Exception as exc:  # pypdf raises many types on malformed files
        raise CorpusError(f"PDF could not be parsed ({type(exc).__name__}: {exc})") from exc
    text = "\n\n".join(page.strip("\n") for page in pages)
    return Extracted(text=text.replace("\r\n", "\n").replace("\r", "\n"))


def read_file(path: Path, data: bytes) -> Extracted:
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return read_pdf(data)
    text = decode(data)
    if suffix in (".md", ".markdown"):
        return read_markdown(text)
    if suffix in (".html", ".htm"):
        return read_html(text)
    return Extracted(text=text)
