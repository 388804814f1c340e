"""From a file to Documents: detect the format, parse it, and give every unit its metadata.

Format detection reads the root element (namespace and name) of XML files, so a ``.xml`` file is
recognised as USLM, Akoma Ntoso, eCFR or Federal Register by content, never by name. Every
problem becomes a ``Refused`` with the reason the user will read in the ingest report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from custom_llm import Document, InputError, StageReport, printable, stable_id
from custom_llm_public_sector import language
from custom_llm_public_sector.units import ParsedFile, Unit

XML_SUFFIXES = {".xml"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
MAX_SUBUNITS = 200
XHTML_NAMESPACE = "http://www.w3.org/1999/xhtml"
UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")  # text in these encodings holds NUL bytes


class Refused(InputError):
    """A file this domain cannot use; the message is the reason."""


def read_file(path: Path, name: str, options: Mapping[str, Any]) -> ParsedFile:
    """The parsed file, or ``Refused`` with a reason."""
    from custom_llm_public_sector import unstructured

    limit = int(options.get("max_file_bytes", 200_000_000))
    stem = printable(path.stem)  # the fallback title; a file name need not be valid UTF-8
    try:
        size = path.stat().st_size
        if size > limit:
            raise Refused(f"too large: {size:,} bytes, the limit is {limit:,} (option max_file_bytes)")
        suffix = path.suffix.lower()
        if suffix == ".pdf":
            title, lines = unstructured.pdf_lines(path)
            return unstructured.parse_lines("pdf", title, lines, stem)
        if suffix == ".docx":
            title, lines = unstructured.docx_lines(path, limit)
            return unstructured.parse_lines("docx", title, lines, stem)
        data = path.read_bytes()
    except OSError as error:
        raise Refused(f"unreadable: {error.strerror or error}") from None
    except unstructured.Unreadable as error:
        raise Refused(str(error)) from None
    if not data.strip():
        raise Refused("empty: no text")
    try:
        if suffix in HTML_SUFFIXES and not _is_xml_legislation(data):
            if b"\x00" in data[:8192] and not data.startswith(UTF16_32_BOMS):
                raise Refused("binary: contains NUL bytes")
            title, lines = unstructured.html_lines(data)
            return unstructured.parse_lines("html", title, lines, stem)
        if suffix in XML_SUFFIXES or suffix in HTML_SUFFIXES or data.lstrip()[:5] == b"<?xml":
            return parse_xml(data, name)
        text = _decode(data)
        _, lines = unstructured.text_lines(text)
        # Plain text names nothing: the file's name is its most stable title.
        return unstructured.parse_lines("markdown" if suffix in {".md", ".markdown"} else "text", stem, lines, stem)
    except unstructured.Unreadable as error:
        raise Refused(str(error)) from None


def _is_xml_legislation(data: bytes) -> bool:
    """An ``.html`` file that is in fact USLM or Akoma Ntoso XML (rare, but then parse it as such)."""
    head = data[:2048].lstrip()
    return head.startswith(b"<?xml") and b"<html" not in head.lower()


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise Refused("binary: contains NUL bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise Refused(f"invalid UTF-8: byte {error.start} cannot be decoded") from None
    if not text.strip():
        raise Refused("empty: no text")
    return text


def parse_xml(data: bytes, name: str = "") -> ParsedFile:
    """Dispatch on the root element; refuse hostile, broken or unknown XML with a reason."""
    from custom_llm_public_sector import akoma_ntoso, ecfr, federal_register, safe_xml, unstructured, uslm

    try:
        root_info = safe_xml.sniff_root(data)
        namespace, element = root_info.namespace, root_info.name
        known = (
            uslm.is_uslm(namespace)
            or akoma_ntoso.is_akoma_ntoso(namespace, element)
            or ecfr.is_ecfr(namespace, element)
            or federal_register.is_federal_register(namespace, element)
            or (namespace == XHTML_NAMESPACE and element == "html")
        )
        if not known:
            shown = f"{{{namespace}}}{element}" if namespace else element
            raise Refused(f"unknown XML format: root element <{shown}>; this domain reads USLM, Akoma Ntoso, eCFR, Federal Register and XHTML")
        if namespace == XHTML_NAMESPACE:
            title, lines = unstructured.html_lines(data)
            return unstructured.parse_lines("xhtml", title, lines, name)
        root = safe_xml.parse_unchecked(data)
    except (safe_xml.UnsafeXML, safe_xml.BadXML) as error:
        raise Refused(str(error)) from None
    if uslm.is_uslm(namespace):
        parsed = uslm.parse(root)
    elif akoma_ntoso.is_akoma_ntoso(namespace, element):
        parsed = akoma_ntoso.parse(root)
    elif ecfr.is_ecfr(namespace, element):
        parsed = ecfr.parse(root, name)
    else:
        parsed = federal_register.parse(root)
    if not parsed.units:
        raise Refused(f"no text: the {parsed.format} document holds no unit with text")
    return parsed


def documents(parsed: ParsedFile, name: str, options: Mapping[str, Any], report: StageReport) -> Iterator[Document]:
    """One Document per unit, with the metadata examples and metrics read."""
    by_document = options.get("group_by", "file") == "document"
    citations = Counter(unit.citation for unit in parsed.units)
    headings = Counter(unit.heading.lower() for unit in parsed.units if unit.heading)
    declared = language.normalize_code(parsed.declared_language)
    if not declared:  # a short unit borrows the language of its file
        sample = "\n".join(unit.text for unit in parsed.units[:50])
        file_language, _ = language.detect(sample, sample_chars=20_000)
        declared = "" if file_language == "und" else file_language
    document_citation = parsed.extra.get("document_citation") or _document_citation(parsed)
    for index, unit in enumerate(parsed.units):
        lang, how = language.choose(unit.text, declared)
        report.count(f"documents: {parsed.format}")
        report.count(f"language: {lang}")
        yield Document(
            text=unit.text,
            source=name,
            id=stable_id(name, str(index), unit.citation, unit.text),
            group=f"{name}#{unit.container}" if by_document and unit.container else name,
            metadata=_metadata(parsed, unit, lang, how, declared, citations, headings, document_citation),
        )


def _document_citation(parsed: ParsedFile) -> str:
    if parsed.format == "ecfr":
        title = parsed.extra.get("cfr_title", "")
        return f"{title} CFR".strip()
    if parsed.format == "akoma_ntoso":
        return parsed.extra.get("work_iri", "")
    return parsed.title


def _metadata(
    parsed: ParsedFile,
    unit: Unit,
    lang: str,
    how: str,
    declared: str,
    citations: Counter,
    headings: Counter,
    document_citation: str,
) -> dict[str, Any]:
    extra = {k: v for k, v in unit.extra.items() if v not in ("", None, [], {})}
    file_extra = {k: v for k, v in parsed.extra.items() if k not in {"document_citation"} and v not in ("", None)}
    return {
        **file_extra,
        **extra,
        "format": parsed.format,
        "document_title": parsed.title,
        "document_citation": unit.extra.get("document_citation") or document_citation,
        "citation": unit.citation,
        "kind": unit.kind,
        "number": unit.number,
        "heading": unit.heading,
        "hierarchy": [level.to_json() for level in unit.levels()],
        "hierarchy_path": unit.hierarchy_path(),
        "language": lang,
        "language_source": how,
        "declared_language": declared,
        "definitions": dict(unit.definitions),
        "subunits": unit.subunits[:MAX_SUBUNITS],
        "citation_shared": citations[unit.citation],
        "heading_shared": headings[unit.heading.lower()] if unit.heading else 0,
        "container": unit.container,
    }
