"""Government documents without structure markup: HTML/XHTML, PDF, DOCX and plain text.

Each reader turns its file into lines, marking the headings the format itself knows (``<h2>``,
a DOCX "Heading 2" style, a Markdown ``##``); the other headings are recognised from how
legislation and reports are written (``SECTION 1.``, ``Article 5``, ``Artikel 3``, ``§ 4``,
``Chapitre II``, ``2.1. Purpose``, short all-capital lines). Every heading opens a unit, so chunks
follow sections instead of arbitrary windows.
"""

from __future__ import annotations

import logging
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from custom_llm import InputError
from custom_llm_public_sector.definitions import find_definitions
from custom_llm_public_sector.units import Level, ParsedFile, Unit, one_line, strip_heading_punctuation


class Unreadable(InputError):
    """The file cannot give text; the message is the reason shown to the user."""


@dataclass
class Line:
    text: str
    level: int = 0  # 0: body text; 1..9: a heading known from markup (1 = outermost)


@dataclass(frozen=True)
class Heading:
    kind: str
    number: str
    title: str
    level: int


# --- heading recognition -------------------------------------------------------------------------

_CONTAINER_WORDS = {
    1: r"BOOK|Book|LIVRE|Livre|BUCH|Buch|LIBRO|Libro",
    2: r"TITLE|Title|TITRE|Titre|TITEL|Titel|TÍTULO|Título|TITOLO|Titolo|PART|Part|PARTIE|Partie|TEIL|Teil|PARTE|Parte",
    3: r"CHAPTER|Chapter|CHAPITRE|Chapitre|KAPITEL|Kapitel|CAPÍTULO|Capítulo|CAPO|Capo|ABSCHNITT|Abschnitt",
    4: r"SUBCHAPTER|Subchapter|SUBPART|Subpart|SECTION|Sección|SECCIÓN|Unterabschnitt",
}
_UNIT = re.compile(
    r"^(?P<kind>SECTION|SEC\.|Section|Sec\.|ARTICLE|Article|ARTICLE|Art\.|Artikel|ARTIKEL|Artículo|ARTÍCULO|Articolo"
    r"|Artigo|§+)\s*(?P<number>\d+[A-Za-z]?(?:[.-]\d+)*|premier|1er|[IVXLC]+)(?![\w])\s*(?:er)?\.?\s*[-—–.:]?\s*(?P<title>.*)$"
)
_CONTAINER = re.compile(
    r"^(?P<kind>" + "|".join(_CONTAINER_WORDS.values()) + r")\s+"
    r"(?P<number>\d+(?:er|re)?[A-Za-z]?(?:[.-]\d+)*|[IVXLC]+(?:er|ER|re)?|[A-Z]|premier|PREMIER|preliminar|PRELIMINAR"
    r"|préliminaire)(?![\w])"
    r"\.?\s*[-—–.:]?\s*(?P<title>.*)$"
)
_NUMBERED = re.compile(r"^(?P<number>\d{1,2}(?:\.\d{1,2}){0,4})\.?\s+(?P<title>[A-ZÀ-Ý][^\n]{1,90})$")
_DOT_LEADER = re.compile(r"(?:\.\s?){4,}\s*[\divxlc]+\s*$", re.I)
_PAGE_NUMBER = re.compile(r"^\s*(?:page\s+)?(?:\d{1,4}|[ivxlc]{1,6})(?:\s+of\s+\d+)?\s*$", re.I)
_MARKUP = re.compile(r"[<>={}|]|//")
_TRAILING_FUNCTION_WORDS = {
    "of",
    "the",
    "and",
    "or",
    "to",
    "a",
    "an",
    "in",
    "for",
    "with",
    "by",
    "on",
    "de",
    "la",
    "le",
    "les",
    "des",
    "du",
    "et",
    "der",
    "die",
    "das",
    "und",
    "von",
    "el",
    "los",
    "las",
    "y",
    "que",
}
_UNIT_KINDS = {"section": "sec.", "article": "art.", "§": "§"}


def _kind_of(word: str) -> str:
    word = word.lower().rstrip(".")
    if word.startswith("§"):
        return "§"
    if word in {"sec", "section"}:
        return "section"
    if word.startswith("art"):
        return "article"
    return word


def _plausible_title(text: str) -> bool:
    words = text.split()
    return 0 < len(words) <= 12 and words[-1].lower().strip(".,:;") not in _TRAILING_FUNCTION_WORDS and not text.rstrip().endswith((",", ";"))


def recognise(text: str) -> Heading | None:
    """A heading when the line looks like one, else None."""
    line = text.strip()
    if len(line) > 160 or len(line) < 2 or _DOT_LEADER.search(line) or _MARKUP.search(line):
        return None
    match = _UNIT.match(line)
    if match:
        title = match.group("title")
        if len(title.split()) <= 25:
            return Heading(_kind_of(match.group("kind")), match.group("number"), strip_heading_punctuation(title), 6)
    match = _CONTAINER.match(line)
    if match and (not match.group("title") or _plausible_title(match.group("title"))):
        word = match.group("kind")
        level = next(lvl for lvl, words in _CONTAINER_WORDS.items() if re.fullmatch(words, word))
        return Heading(word.lower(), match.group("number").rstrip("."), strip_heading_punctuation(match.group("title")), level)
    match = _NUMBERED.match(line)
    if (
        match
        and _plausible_title(match.group("title"))
        and not match.group("title").rstrip().endswith(".")
        and sum(ch.isdigit() for ch in match.group("title")) <= 0.2 * len(match.group("title"))
    ):
        number = match.group("number")
        return Heading("heading", number, strip_heading_punctuation(match.group("title")), 4 + number.count("."))
    letters = [ch for ch in line if ch.isalpha()]
    if (
        len(letters) >= 4
        and len(letters) >= 0.8 * len(line.replace(" ", ""))
        and all(ch.isupper() for ch in letters)
        and len(line.split()) <= 10
        and not line.endswith((".", ",", ";"))
    ):
        return Heading("heading", "", strip_heading_punctuation(line), 3)
    return None


# --- sectioning ------------------------------------------------------------------------------------


def sections(lines: list[Line], doc_title: str, doc_kind: str) -> list[Unit]:
    """Units opened by headings; the hierarchy path is the stack of enclosing headings."""
    top = Level(doc_kind, "", doc_title)
    units: list[Unit] = []
    stack: list[tuple[int, Level]] = []
    current: Heading | None = None
    body: list[str] = []

    def close() -> None:
        text = "\n".join(body).strip()
        if not text:
            return
        path = [top, *(level for _, level in stack[:-1])] if current is not None else [top]
        if current is None:
            units.append(Unit("front matter", "", doc_title, doc_title, text, [top], find_definitions(text)))
            return
        label = _UNIT_KINDS.get(current.kind)
        if current.number:
            citation = f"{doc_title}, {label} {current.number}" if label else f"{doc_title}, {current.number}"
        else:
            citation = f"{doc_title}, “{current.title}”"
        units.append(Unit(current.kind, current.number, current.title, citation, text, path, find_definitions(text)))

    for line in lines:
        heading = None
        if line.level:
            recognised = recognise(line.text)
            heading = Heading(
                recognised.kind if recognised else "heading",
                recognised.number if recognised else "",
                recognised.title if recognised and recognised.title else strip_heading_punctuation(line.text),
                line.level,
            )
        else:
            heading = recognise(line.text)
        if heading is None:
            body.append(line.text)
            continue
        close()
        body = []
        current = heading
        while stack and stack[-1][0] >= heading.level:
            stack.pop()
        stack.append((heading.level, Level(heading.kind, heading.number, heading.title)))
    close()
    return units


def _title_from(lines: list[Line], fallback: str) -> str:
    for line in lines[:20]:
        text = line.text.strip()
        if 3 <= len(text) <= 120 and any(ch.isalpha() for ch in text):
            return text
    return fallback


def _join_wrapped(lines: list[str]) -> list[str]:
    """PDF text comes hard-wrapped: join a line to the previous one unless that one ended a
    sentence or this one is a heading or starts an enumeration."""
    joined: list[str] = []
    for line in lines:
        if (
            joined
            and recognise(line) is None
            and recognise(joined[-1]) is None
            and not joined[-1].endswith((".", ":", ";", "?", "!", "—"))
            and not re.match(r"^(?:\(?[\w]{1,4}[).]|[•·▪\-–*])\s", line)
        ):
            joined[-1] = f"{joined[-1]} {line}"
        else:
            joined.append(line)
    return joined


# --- readers --------------------------------------------------------------------------------------

_BLOCKS = {
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "section",
    "article",
    "header",
    "footer",
    "blockquote",
    "pre",
    "dt",
    "dd",
    "dl",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "title",
    "caption",
    "td",
    "th",
    "center",
    "body",
}
_DROP = {"script", "style", "noscript", "template", "head", "nav", "svg", "button", "form", "iframe", "object"}


def html_lines(data: bytes) -> tuple[str, list[Line]]:
    """Lines of an HTML or XHTML page (lxml's HTML parser: no DTD loading, no entity definitions,
    no network); ``<h1>``..``<h6>`` are headings."""
    from lxml import etree, html

    parser = html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True, huge_tree=False)
    try:
        root = html.document_fromstring(data, parser=parser)
    except (etree.ParserError, ValueError) as error:
        raise Unreadable(f"unreadable HTML: {error}") from None
    title_element = root.find(".//title")
    title = one_line(title_element.text_content()) if title_element is not None else ""
    lines: list[Line] = []
    buffer: list[str] = []

    def flush(level: int = 0) -> None:
        text = one_line("".join(buffer))
        buffer.clear()
        if text:
            lines.append(Line(text, level))

    def walk(element: object) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""  # type: ignore[attr-defined]
        tag = tag.rpartition("}")[2].lower()
        if tag in _DROP:
            if element.tail:  # type: ignore[attr-defined]
                buffer.append(element.tail)  # type: ignore[attr-defined]
            return
        heading_level = int(tag[1]) if re.fullmatch(r"h[1-6]", tag) else 0
        if tag in _BLOCKS:
            flush()
        if element.text:  # type: ignore[attr-defined]
            buffer.append(element.text)  # type: ignore[attr-defined]
        for child in element:  # type: ignore[attr-defined]
            walk(child)
        if tag in _BLOCKS:
            flush(heading_level)
        elif tag in {"td", "th"}:
            buffer.append(" | ")
        if element.tail:  # type: ignore[attr-defined]
            buffer.append(element.tail)  # type: ignore[attr-defined]

    body = root.find("body")
    walk(body if body is not None else root)
    flush()
    return title, lines


def pdf_lines(path: Path) -> tuple[str, list[Line]]:
    """Lines of a PDF's text layer (pypdf); refused when there is none (a scan)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable("encrypted PDF: it needs a password; decrypt it first")
        pages = [page.extract_text() or "" for page in reader.pages]
        metadata = reader.metadata
    except Unreadable:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as error:  # PyPdfError: every pypdf error, limits too
        raise Unreadable(f"unreadable PDF: {type(error).__name__}: {error}") from None
    characters = sum(len(p.strip()) for p in pages)
    if not pages:
        raise Unreadable("empty PDF: no pages")
    if characters < 20 * len(pages) and characters < 200:
        raise Unreadable(
            f"no text layer: the PDF has {len(pages)} page(s) but only {characters} characters of text "
            "(a scanned document?); OCR it first (no OCR runs here)"
        )
    raw: list[str] = []
    for page in pages:
        for line in page.splitlines():
            line = one_line(line)
            if not line or _PAGE_NUMBER.match(line) or _DOT_LEADER.search(line):
                continue
            raw.append(line)
    title = ""
    if metadata is not None and metadata.title:
        title = re.sub(r"^Microsoft Word - |\.docx?$", "", str(metadata.title)).strip()
    return title, [Line(text) for text in _join_wrapped(raw)]


_STYLE_LEVEL = re.compile(r"(?:heading|überschrift|titre|título|titolo|kop)\s*(\d)", re.I)


def docx_lines(path: Path, max_uncompressed: int) -> tuple[str, list[Line]]:
    """Lines of a Word document in reading order (paragraphs and table rows); heading styles
    mark headings. The archive's unpacked size is checked first (zip bombs)."""
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > max_uncompressed:
                raise Unreadable(f"refused: the DOCX unpacks to {unpacked:,} bytes, over the limit {max_uncompressed:,}")
            _refuse_dtds(archive)
    except _ZIP_ERRORS as error:
        raise Unreadable(f"not a valid DOCX (zip) file: {type(error).__name__}: {error}") from None
    import docx
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
    except Exception as error:  # python-docx raises many types for broken packages
        raise Unreadable(f"unreadable DOCX: {type(error).__name__}: {error}") from None
    root = document.element
    body = root.find(qn("w:body")) if root.tag == qn("w:document") else None
    if body is None:  # python-docx hands back any XML as the main part; only WordprocessingML has a body
        raise Unreadable(f"unreadable DOCX: the main part is <{root.tag}>, not a WordprocessingML document with a body")
    lines: list[Line] = []
    for block in body.iterchildren(qn("w:p"), qn("w:tbl")):  # comments and other vocabularies are skipped
        tag = block.tag.rpartition("}")[2]
        if tag == "p":
            paragraph = Paragraph(block, document)
            text = one_line(paragraph.text)
            if not text:
                continue
            style = paragraph.style.name if paragraph.style is not None else ""
            match = _STYLE_LEVEL.search(style or "")
            level = int(match.group(1)) if match else (1 if (style or "").lower() == "title" else 0)
            lines.append(Line(text, level))
        elif tag == "tbl":
            for row in Table(block, document).rows:
                cells = [one_line(cell.text) for cell in row.cells]
                line = " | ".join(dict.fromkeys(c for c in cells if c))
                if line:
                    lines.append(Line(line))
    title = one_line(document.core_properties.title or "")
    return title, lines


# What zipfile raises for a damaged archive: a bad directory or CRC, broken deflate data, a cut file,
# an unknown compression method, impossible header values.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, NotImplementedError, ValueError)
_DOCTYPES = (b"<!DOCTYPE", "<!DOCTYPE".encode("utf-16-le"), "<!DOCTYPE".encode("utf-16-be"))


def _refuse_dtds(archive: zipfile.ZipFile) -> None:
    """Office Open XML parts never declare a DTD (the packaging standard forbids it); one that does
    is hostile (entities, an external DTD naming a local file), so the whole file is refused."""
    for info in archive.infolist():
        if info.filename.lower().endswith((".xml", ".rels")):
            data = archive.read(info)
            if any(marker in data for marker in _DOCTYPES):
                raise Unreadable(f"unsafe DOCX: {info.filename} declares a DTD (<!DOCTYPE>), which Office documents never do")


def text_lines(text: str) -> tuple[str, list[Line]]:
    """Lines of plain text or Markdown; ``#`` headings and underlined headings are marked."""
    lines: list[Line] = []
    raw = text.splitlines()
    for index, line in enumerate(raw):
        stripped = line.strip()
        if not stripped or re.fullmatch(r"[=\-~]{3,}", stripped):
            continue
        markdown = re.match(r"^(#{1,6})\s+(.*)$", stripped)
        if markdown:
            lines.append(Line(markdown.group(2).strip(), len(markdown.group(1))))
            continue
        underline = raw[index + 1].strip() if index + 1 < len(raw) else ""
        if re.fullmatch(r"={3,}", underline):
            lines.append(Line(stripped, 1))
        elif re.fullmatch(r"-{3,}", underline):
            lines.append(Line(stripped, 2))
        else:
            lines.append(Line(one_line(stripped)))
    return "", _merge_paragraph_lines(lines)


def _merge_paragraph_lines(lines: list[Line]) -> list[Line]:
    merged = _join_wrapped([line.text for line in lines if not line.level])
    if len(merged) == sum(1 for line in lines if not line.level):
        return lines
    out: list[Line] = []
    body: list[str] = []
    for line in lines:
        if line.level:
            out.extend(Line(t) for t in _join_wrapped(body))
            body = []
            out.append(line)
        else:
            body.append(line.text)
    out.extend(Line(t) for t in _join_wrapped(body))
    return out


def parse_lines(fmt: str, title: str, lines: list[Line], fallback_title: str) -> ParsedFile:
    doc_title = one_line(title) or _title_from(lines, fallback_title)
    units = sections(lines, doc_title, "document")
    if not units:
        raise Unreadable("no text: the document holds no readable text")
    return ParsedFile(format=fmt, title=doc_title, units=units)
