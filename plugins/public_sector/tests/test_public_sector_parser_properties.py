"""Property-based tests of the public sector plugin's parsers: no input (random bytes, random text, the
valid samples of ``public_sector_inputs/`` and generated PDF and DOCX files cut short, with flipped,
inserted or deleted bytes, structurally valid documents of each XML vocabulary filled with random
content) makes a reader raise anything but InputError.

Deterministic by default (``custom_llm.testing_properties``: derandomized, no example database);
``HYPOTHESIS_PROFILE=fuzz`` runs ten thousand examples a test instead.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from custom_llm import testing_properties
from custom_llm.testing_properties import REPORT_LINES, allowed, good, good_docx, inputs, share, text_pdf, texts, write

scratch = testing_properties.scratch  # the fixture, module-scoped

# copies of core's tests/bad_inputs/public_sector/good files (and text/good/notes.md), in the same layout
INPUTS = Path(__file__).resolve().parent / "public_sector_inputs"
PDF_SAMPLE = text_pdf(REPORT_LINES)
DOCX_SAMPLE = good_docx()


def _good(domain: str, name: str) -> bytes:
    return good(INPUTS, domain, name)


XML_SAMPLES = ("public-law.xml", "act.xml", "cfr-part.xml", "federal-register.xml")


@given(inputs(*(_good("public_sector", name) for name in XML_SAMPLES)))
def test_public_sector_safe_xml(data):
    from custom_llm_public_sector import safe_xml

    allowed(safe_xml.parse, data)


@given(inputs(*(_good("public_sector", name) for name in XML_SAMPLES)))
def test_public_sector_xml_readers_on_damaged_files(data):
    from custom_llm_public_sector.ingestion import parse_xml

    parsed = allowed(parse_xml, data, "file.xml")
    if parsed is not None:
        assert parsed.units and all(unit.text for unit in parsed.units)


# Each vocabulary: namespace, root elements, the element names its reader looks at, its attributes.
VOCABULARIES = {
    "uslm": (
        "http://schemas.gpo.gov/xml/uslm",
        ["pLaw", "uscDoc", "bill"],
        [
            "meta",
            "congress",
            "docNumber",
            "title",
            "citableAs",
            "main",
            "title",
            "chapter",
            "part",
            "level",
            "section",
            "subsection",
            "paragraph",
            "clause",
            "num",
            "heading",
            "content",
            "chapeau",
            "p",
            "quotedContent",
            "note",
            "term",
            "shortTitle",
            "officialTitle",
            "sidenote",
            "page",
            "toc",
            "def",
            "table",
            "tr",
        ],
        {"value": ["1", "2a", "", "(a)", "§ 5"], "identifier": ["/us/pl/118/99/s1", "/us/bill/118/hr/1/s1", "/us/usc/t1/s1", "x"]},
    ),
    "akn": (
        "http://docs.oasis-open.org/legaldocml/ns/akn/3.0",
        ["akomaNtoso"],
        [
            "act",
            "bill",
            "debate",
            "doc",
            "meta",
            "identification",
            "FRBRWork",
            "FRBRExpression",
            "FRBRuri",
            "FRBRthis",
            "FRBRlanguage",
            "preface",
            "preamble",
            "body",
            "debateBody",
            "mainBody",
            "part",
            "chapter",
            "section",
            "article",
            "paragraph",
            "point",
            "list",
            "num",
            "heading",
            "content",
            "intro",
            "p",
            "def",
            "docTitle",
            "shortTitle",
            "quotedStructure",
            "hcontainer",
            "debateSection",
            "authorialNote",
            "eol",
        ],
        {"eId": ["sec_1", "art_2__para_1", ""], "wId": ["w1"], "value": ["/ke/act/1989/16", ""], "language": ["eng", "fra", "x"]},
    ),
    "ecfr": (
        "",
        ["ECFR", "DIV1", "DIV5", "DLPSTEXTCLASS"],
        [
            "DIV1",
            "DIV3",
            "DIV5",
            "DIV6",
            "DIV8",
            "DIV9",
            "HEAD",
            "P",
            "FP",
            "I",
            "E",
            "CITA",
            "IDNO",
            "ROW",
            "TR",
            "ENT",
            "AUTH",
            "SOURCE",
            "HED",
            "PSPACE",
            "NOTE",
            "EXTRACT",
        ],
        {
            "N": ["1", "101.1", "", "x"],
            "TYPE": ["TITLE", "CHAPTER", "SUBCHAP", "PART", "SUBPART", "SECTION", "APPENDIX", "X"],
            "hierarchy_metadata": ['{"citation": "3 CFR 101.1"}', "[1]", "{", '"s"', "[" * 3000, "{&quot;citation&quot;: 1}"],
        },
    ),
    "fr": (
        "",
        ["FEDREG", "RULE", "NOTICE"],
        [
            "VOL",
            "NO",
            "DATE",
            "CNTNTS",
            "SJDENT",
            "DOCENT",
            "FRDOCBP",
            "PGS",
            "RULES",
            "RULE",
            "PRORULES",
            "PRORULE",
            "NOTICES",
            "NOTICE",
            "PRESDOCS",
            "EXECORD",
            "PREAMB",
            "AGENCY",
            "SUBAGY",
            "SUBJECT",
            "CFR",
            "RIN",
            "SUPLINF",
            "HD",
            "P",
            "FP",
            "PRTPAGE",
            "FRDOC",
            "REGTEXT",
            "SECTION",
            "SECTNO",
            "AMDPAR",
            "GPOTABLE",
            "ROW",
            "ENT",
            "EXTRACT",
        ],
        {"P": ["9741", "", "x"], "SOURCE": ["HED", "HD1", "HD2"], "TITLE": ["14", "x"], "TYPE": ["F", "S"]},
    ),
}
XML_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn"), blacklist_characters="\ufffe\uffff") | st.just("\n"), max_size=40)
WORDS = st.sampled_from(
    [
        "SEC. 1.",
        "(a)",
        "§ 101.1",
        "Definitions.",
        "means",
        "The term",
        "PART 1—GENERAL",
        "FR Doc. 2024-1",
        "14 CFR Part 39",
        "“quoted”",
        "",
        " ",
        "1",
        "Article 5",
        "shall",
    ]
)


@st.composite
def xml_documents(draw: Any) -> bytes:
    """A well-formed document of one vocabulary: its own element names nested at random, with
    random attributes and text. Reaches the format readers' code, not just the XML parser."""
    from lxml import etree

    namespace, roots, names, attributes = VOCABULARIES[draw(st.sampled_from(sorted(VOCABULARIES)))]

    def tag(name: str) -> str:
        return f"{{{namespace}}}{name}" if namespace else name

    def fill(element: Any, depth: int) -> None:
        for attribute in draw(st.lists(st.sampled_from(sorted(attributes)), max_size=2, unique=True)):
            element.set(attribute, draw(st.one_of(st.sampled_from(attributes[attribute]), XML_TEXT)))
        element.text = draw(st.one_of(WORDS, XML_TEXT))
        if depth < 6:
            for name in draw(st.lists(st.sampled_from(names), max_size=4 if depth < 3 else 2)):
                child = etree.SubElement(element, tag(name))
                fill(child, depth + 1)
                child.tail = draw(st.one_of(st.just(""), WORDS))

    root = etree.Element(tag(draw(st.sampled_from(roots))), nsmap={None: namespace} if namespace else None)
    fill(root, 0)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


@given(xml_documents())
def test_public_sector_xml_readers_on_generated_documents(data):
    from custom_llm_public_sector.ingestion import parse_xml

    parsed = allowed(parse_xml, data, "title-3-file.xml")
    if parsed is not None:
        for unit in parsed.units:
            assert unit.text and isinstance(unit.citation, str)


@given(st.one_of(inputs(_good("public_sector", "bill.html")), xml_documents()))
def test_public_sector_html_reader(data):
    from custom_llm_public_sector import unstructured

    found = allowed(unstructured.html_lines, data)
    if found is not None:
        allowed(unstructured.parse_lines, "html", found[0], found[1], "file")


@given(texts(_good("public_sector", "notice.txt"), _good("text", "notes.md")))
def test_public_sector_text_reader(text):
    from custom_llm_public_sector import unstructured

    _, lines = unstructured.text_lines(text)
    parsed = allowed(unstructured.parse_lines, "text", "", lines, "file")
    assert parsed is None or all(unit.text for unit in parsed.units)


@share(0.3)
@given(data=inputs(PDF_SAMPLE))
def test_public_sector_pdf_reader(data, scratch):
    from custom_llm_public_sector import unstructured

    allowed(unstructured.pdf_lines, write(scratch, "file.pdf", data))


def _docx_with(document_xml: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(DOCX_SAMPLE)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, document_xml if info.filename == "word/document.xml" else source.read(info))
    return out.getvalue()


def _document_xml() -> bytes:
    with zipfile.ZipFile(io.BytesIO(DOCX_SAMPLE)) as archive:
        return archive.read("word/document.xml")


@share(0.3)
@given(data=st.one_of(inputs(DOCX_SAMPLE), inputs(_document_xml()).map(_docx_with)))
def test_public_sector_docx_reader(data, scratch):
    from custom_llm_public_sector import unstructured

    allowed(unstructured.docx_lines, write(scratch, "file.docx", data), 50_000_000)


@share(0.5)
@given(data=st.data())
def test_public_sector_file_reader(data, scratch):
    """``read_file``: dispatch on the suffix, then any of the readers; random bytes under any name."""
    from custom_llm_public_sector.ingestion import read_file

    suffix = data.draw(st.sampled_from([".xml", ".html", ".xhtml", ".txt", ".md", ".pdf", ".docx", ""]))
    samples = {
        ".xml": [_good("public_sector", n) for n in XML_SAMPLES],
        ".html": [_good("public_sector", "bill.html")],
        ".pdf": [PDF_SAMPLE],
        ".docx": [DOCX_SAMPLE],
    }.get(suffix, [_good("public_sector", "notice.txt")])
    path = write(scratch, f"any{suffix}", data.draw(inputs(*samples)))
    allowed(read_file, path, path.name, {})


@given(texts(b"Pub. L. 113-44, sec. 101", b"3 CFR 101.1(a)(1)", b"89 FR 9776, 9778", b"/ke/act/1989-12-06/16#sec2"), st.text(max_size=80))
def test_public_sector_citation_parsing(citation, other):
    from custom_llm_public_sector.citations import normalize, same_citation

    assert isinstance(normalize(citation), str)
    assert isinstance(same_citation(other, citation), bool) and isinstance(same_citation(citation, other), bool)
    if len(citation.strip().splitlines()) <= 1:  # the metric reads the first line of a prediction
        assert same_citation(citation, citation)
