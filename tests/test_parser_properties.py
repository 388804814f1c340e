"""Property-based tests of every parser: no input (random bytes, random text, real and valid samples
cut short, with flipped, inserted or deleted bytes, structurally valid documents of each XML
vocabulary filled with random content) makes a parser raise anything but InputError, the project's
error for "this file's content cannot be used". Whole-domain ingestion over a damaged file never
raises either, and never needs its catch-all to save the run.

Deterministic in CI (tests/conftest.py: derandomized, no example database); ``HYPOTHESIS_PROFILE=fuzz``
runs ten thousand examples a test instead.
"""

from __future__ import annotations

import importlib
import io
import json
import random
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bad_input_corpus import CORPUS, PLUGIN_MODULES, REPORT_LINES, _good_docx, _text_pdf
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_llm.errors import InputError
from custom_llm.records import StageReport
from custom_llm.testing import ingest_domain

SAFETY_NETS = ("parser failed:",)  # StageReport.reading's reason: an exception no parser expected
PDF_SAMPLE = _text_pdf(REPORT_LINES)
DOCX_SAMPLE = _good_docx()


def share(fraction: float) -> settings:
    """A share of the profile's examples, for the slower parsers (PDF, DOCX, whole ingestion)."""
    return settings(max_examples=max(10, int(settings.default.max_examples * fraction)))


def allowed(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``call``'s result, or None when it refused the input with InputError. Any other exception
    escapes and fails the property."""
    try:
        return call(*args, **kwargs)
    except InputError as error:
        assert str(error), "an InputError must say why"
        return None


# --- strategies ------------------------------------------------------------------------------------

# Bytes that mean something to one of the formats: inserted into valid samples, they reach deeper.
TOKENS = [
    b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\r", b"\n", b"\t", b" ", b",", b":", b"|", b"#", b"/", b"\\", b"'", b'"',
    b"<", b">", b"&", b"&amp;", b"&lol;", b"]]>", b"<!--", b"<![CDATA[", b"<?xml", b"<!DOCTYPE x [<!ENTITY e 'v'>]>",
    b"xmlns=\"urn:x\"", b"NOVALUE", b"nan", b"inf", b"-inf", b"1e999", b"-0", b"1e-320", b"0", b"9" * 40, b"E+",
    b"Number of samples           :", b"Sampling interval           :", b"Channel code                :",
    b"Name of channel 001         :", b"Unit                        :", b"Reference channel           :explicit",
    b"TEST", b"INSTRUMENTATION", b"CURNO", b"NFP", b"NLP", b"%PDF-1.4", b"obj", b"endobj", b"stream", b"endstream",
    b"xref", b"trailer", b"/Encrypt", b"PK\x03\x04", b"{", b"}", b"(", b")", b"[", b"]", b"def ", b"fn ", b"class ",
    b"\"\"\"", b"//", b"/*", b"*/", b"AKIA", b"ghp_", b"-----BEGIN RSA PRIVATE KEY-----", b"password = '", b"@",
    b"://user:pw@host", b"<fim_prefix>", b"<fim_suffix>", b"<fim_middle>", b"\\ud800", b"[" * 2000,
]


@st.composite
def mutated(draw: Any, sample: bytes) -> bytes:
    """``sample`` cut, or with bytes flipped, inserted (often a meaningful token), deleted or repeated."""
    data = bytearray(sample)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["cut", "flip", "insert", "delete", "repeat"]))
        position = draw(st.integers(0, len(data)))
        if kind == "cut":
            data = data[:position]
        elif kind == "flip" and data:
            data[min(position, len(data) - 1)] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[position:position] = draw(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=16)))
        elif kind == "delete":
            del data[position:position + draw(st.integers(1, 64))]
        else:
            data[position:position] = data[position:position + draw(st.integers(1, 256))] * draw(st.integers(1, 4))
    return bytes(data)


def inputs(*samples: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, or one of the valid ``samples`` damaged (three times as likely)."""
    damaged = st.sampled_from(samples).flatmap(mutated) if samples else st.nothing()
    return st.one_of(st.binary(max_size=4096), damaged, damaged, damaged)


def texts(*samples: bytes) -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=2000), inputs(*samples).map(lambda b: b.decode("utf-8", "replace")))


def good(domain: str, name: str) -> bytes:
    return (CORPUS / domain / "good" / name).read_bytes()


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory(prefix="custom-llm-properties-") as folder:
        yield Path(folder)


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- codebase ------------------------------------------------------------------------------------------

CODE_SAMPLES = {"python": "inventory.py", "javascript": "cart.js", "typescript": "queue.ts", "tsx": "queue.ts",
                "java": "Ledger.java", "go": "stack.go", "rust": "counter.rs", "c": "ring.c", "cpp": "matrix.cpp"}
CODE_SUFFIXES = {"python": ".py", "javascript": ".js", "typescript": ".ts", "tsx": ".tsx", "java": ".java", "go": ".go",
                 "rust": ".rs", "c": ".h", "cpp": ".cpp"}


def _code(draw: Any) -> tuple[str, str]:
    language = draw(st.sampled_from(sorted(CODE_SAMPLES)))
    text = draw(texts(good("codebase", CODE_SAMPLES[language])))
    return language, text


def _check_units(units: list[dict[str, Any]], text: str) -> None:
    for unit in units:
        assert 0 <= unit["start"] <= unit["body_start"] <= unit["body_end"] <= unit["end"] <= len(text), unit
        assert unit["parent"] is None or 0 <= unit["parent"] < len(units)


@given(st.data())
def test_codebase_unit_extraction(data):
    from custom_llm_codebase.units import extract

    language, text = _code(data.draw)
    result = allowed(extract, text, language)
    if result is not None:
        _check_units(result.units, text)
        assert result.ok or result.units == []


@given(data=st.data())
def test_codebase_file_ingestion_redaction_and_fim(data, scratch):
    """One file through ingestion, secret redaction and every kind of example, FIM included."""
    from custom_llm_codebase.examples import make_examples
    from custom_llm_codebase.fim import DEFAULT_SET, FimTokens, parse_fim
    from custom_llm_codebase.ingestion import ingest_one
    from custom_llm_codebase.redaction import redact_document

    language = data.draw(st.sampled_from(sorted(CODE_SAMPLES)))
    content = data.draw(inputs(good("codebase", CODE_SAMPLES[language])))
    suffix = data.draw(st.sampled_from([CODE_SUFFIXES[language], ".md", ".json", ".txt", ""]))
    path = write(scratch, f"code/file{suffix}", content)
    report = StageReport()
    options = {"max_file_bytes": 1_000_000, "fim_rate": 1.0, "fim_syntax_rate": 0.5, "fim_spm_rate": 0.5,
               "include_units": True, "max_unit_chars": 300}
    document = allowed(ingest_one, path, path.name, options, report)
    if document is None:
        assert report.issues, "a file left out without a reason"
        return
    document = redact_document(document, report)
    document.text.encode("utf-8")
    _check_units(document.metadata["units"], document.text)
    for example in make_examples(document, options, random.Random(data.draw(st.integers(0, 9))), None):
        if example.kind.startswith("fim_"):
            mode = example.kind.removeprefix("fim_")
            prefix, middle, suffix_text = parse_fim(example.completion, FimTokens(*DEFAULT_SET), mode,
                                                    example.metadata["prefix_chars"])
            assert prefix + middle + suffix_text == document.text


@given(texts(*(good("codebase", name) for name in CODE_SAMPLES.values())), st.sampled_from(sorted(CODE_SUFFIXES) + ["text"]))
def test_codebase_redaction(text, language):
    from custom_llm_codebase.redaction import redact

    redacted, counts = redact(text, f"file{CODE_SUFFIXES.get(language, '.txt')}", language)
    assert isinstance(redacted, str) and all(n > 0 for n in counts.values())
    if not counts:
        assert redacted == text


@given(st.text(max_size=300), st.sampled_from(["psm", "spm"]), st.integers(-5, 400))
def test_codebase_fim_parser(sequence, mode, prefix_chars):
    from custom_llm_codebase.fim import DEFAULT_SET, FimTokens, parse_fim

    parts = allowed(parse_fim, sequence, FimTokens(*DEFAULT_SET), mode, prefix_chars)
    assert parts is None or all(isinstance(p, str) for p in parts)


# --- automotive ------------------------------------------------------------------------------------

AUTOMOTIVE = CORPUS / "automotive" / "bad"


def _channel_samples() -> list[bytes]:
    one = (AUTOMOTIVE / "B1" / "Channel" / "B1.001").read_bytes()
    two = (AUTOMOTIVE / "B1" / "Channel" / "B1.013").read_bytes()  # an inline time column
    return [one, two]


@given(inputs(*_channel_samples()))
def test_automotive_channel_reader(data):
    from custom_llm_automotive.isomme import read_channel

    channel = allowed(read_channel, Path("test.001"), data)
    if channel is not None:
        import numpy as np

        assert np.all(np.isfinite(channel.values)) and len(channel) > 0
        assert channel.time is not None or channel.explicit_reference


@pytest.fixture(scope="module")
def automotive_test(scratch) -> Path:
    """One generated ISO-MME test (its files are damaged one at a time)."""
    from custom_llm_automotive.generator import generate

    generate(scratch / "iso-source", 1, seed=3, reports=False)
    return scratch / "iso-source" / "T0001"


@share(0.4)
@given(data=st.data())
def test_automotive_iso_mme_test_reader(data, automotive_test, scratch):
    import shutil

    from custom_llm_automotive.isomme import read_test

    folder = scratch / "iso"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(automotive_test, folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    victim = data.draw(st.sampled_from([p for p in files if p.suffix.lower() in (".mme", ".chn", ".001", ".002")]))
    victim.write_bytes(data.draw(inputs(victim.read_bytes()[:6000])))
    test = allowed(read_test, folder / "T0001.mme", None, set(files))
    if test is not None:
        assert all(isinstance(reason, str) and reason for _, reason in test.issues)


@given(texts(b"11HEAD0000H3ACXP", b"M0MBARLEMIUPACXP", b"21NECKUP00E2MOZP"))
def test_automotive_channel_code_decoder(text):
    from custom_llm_automotive.channel_codes import decode

    code = allowed(decode, text)
    if code is not None:
        assert len(code.raw) == 16 and code.describe()


@given(texts(b"m/s2", b"kN", b"in-lbf", b"deg/s", b"g"), st.sampled_from(["AC", "FO", "MO", "DS", "VE", "TI", "AN", "", "XX"]))
def test_automotive_unit_parser(text, dimension):
    from custom_llm_automotive.units import normalise

    found = allowed(normalise, text, dimension)
    if found is not None:
        assert found[1] > 0


@pytest.fixture(scope="module")
def ev5_sample(scratch) -> Path:
    import numpy as np

    from custom_llm_automotive.nhtsa import write_ev5

    time = np.arange(200) * 1e-4
    curves = [({"VEHNO": "1", "OCCLOC": "01", "SENATT": "HDCG", "AXIS": "X", "YUNITS": "G", "XUNITS": "SEC"}, time,
               20 * np.sin(time * 300)),
              ({"VEHNO": "1", "SENATT": "VECG", "AXIS": "X", "YUNITS": "G", "XUNITS": "SEC"}, time, -5 * np.sin(time * 100))]
    return write_ev5(scratch / "ev5-source", "E9", {"TITLE": "Sample", "TSTTYP": "FRONTAL"},
                     [{"VEHNO": "1", "YEAR": "2020", "MAKED": "Example", "MODELD": "Sedan", "VEHSPD": "56"}],
                     [{"VEHNO": "1", "OCCLOC": "01", "OCCTYP": "H3", "DUMSIZ": "50"}], curves)


@share(0.5)
@given(data=st.data())
def test_automotive_ev5_reader(data, ev5_sample, scratch):
    from custom_llm_automotive.nhtsa import parse_ev5, read_ev5

    folder = scratch / "ev5"
    folder.mkdir(exist_ok=True)
    names = sorted(p.name for p in ev5_sample.parent.iterdir())
    victim = data.draw(st.sampled_from(names))
    for name in names:
        content = (ev5_sample.parent / name).read_bytes()
        write(folder, name, data.draw(inputs(content)) if name == victim else content)
    parse_ev5((folder / "E9.ev5").read_bytes().decode("latin-1"))
    allowed(read_ev5, folder / "E9.ev5", {folder / n for n in names})


def _report_samples() -> list[bytes]:
    return [b"CRASH TEST REPORT\n\nTest number: T1\nLaboratory: Lab\n\n1. TEST CONDITIONS\nVehicle: Sedan\nImpact speed: 56.0 km/h\n"
            b"\n2. RESULTS\nDriver: HIC 15 412.\n\nOBSERVATIONS\n=====\nNone.\n"]


@given(data=inputs(*_report_samples()))
def test_automotive_text_report_reader(data, scratch):
    from custom_llm_automotive.reports import read_report

    sections = allowed(read_report, write(scratch, "report.txt", data))
    assert sections is None or all(s.text for s in sections)


@share(0.3)
@given(data=inputs(PDF_SAMPLE))
def test_automotive_pdf_report_reader(data, scratch):
    from custom_llm_automotive.reports import read_report

    allowed(read_report, write(scratch, "report.pdf", data))


# --- public sector ---------------------------------------------------------------------------------

XML_SAMPLES = ("public-law.xml", "act.xml", "cfr-part.xml", "federal-register.xml")


@given(inputs(*(good("public_sector", name) for name in XML_SAMPLES)))
def test_public_sector_safe_xml(data):
    from custom_llm_public_sector import safe_xml

    allowed(safe_xml.parse, data)


@given(inputs(*(good("public_sector", name) for name in XML_SAMPLES)))
def test_public_sector_xml_readers_on_damaged_files(data):
    from custom_llm_public_sector.ingestion import parse_xml

    parsed = allowed(parse_xml, data, "file.xml")
    if parsed is not None:
        assert parsed.units and all(unit.text for unit in parsed.units)


# Each vocabulary: namespace, root elements, the element names its reader looks at, its attributes.
VOCABULARIES = {
    "uslm": ("http://schemas.gpo.gov/xml/uslm", ["pLaw", "uscDoc", "bill"],
             ["meta", "congress", "docNumber", "title", "citableAs", "main", "title", "chapter", "part", "level", "section",
              "subsection", "paragraph", "clause", "num", "heading", "content", "chapeau", "p", "quotedContent", "note", "term",
              "shortTitle", "officialTitle", "sidenote", "page", "toc", "def", "table", "tr"],
             {"value": ["1", "2a", "", "(a)", "§ 5"], "identifier": ["/us/pl/118/99/s1", "/us/bill/118/hr/1/s1", "/us/usc/t1/s1", "x"]}),
    "akn": ("http://docs.oasis-open.org/legaldocml/ns/akn/3.0", ["akomaNtoso"],
            ["act", "bill", "debate", "doc", "meta", "identification", "FRBRWork", "FRBRExpression", "FRBRuri", "FRBRthis",
             "FRBRlanguage", "preface", "preamble", "body", "debateBody", "mainBody", "part", "chapter", "section", "article",
             "paragraph", "point", "list", "num", "heading", "content", "intro", "p", "def", "docTitle", "shortTitle",
             "quotedStructure", "hcontainer", "debateSection", "authorialNote", "eol"],
            {"eId": ["sec_1", "art_2__para_1", ""], "wId": ["w1"], "value": ["/ke/act/1989/16", ""], "language": ["eng", "fra", "x"]}),
    "ecfr": ("", ["ECFR", "DIV1", "DIV5", "DLPSTEXTCLASS"],
             ["DIV1", "DIV3", "DIV5", "DIV6", "DIV8", "DIV9", "HEAD", "P", "FP", "I", "E", "CITA", "IDNO", "ROW", "TR", "ENT",
              "AUTH", "SOURCE", "HED", "PSPACE", "NOTE", "EXTRACT"],
             {"N": ["1", "101.1", "", "x"], "TYPE": ["TITLE", "CHAPTER", "SUBCHAP", "PART", "SUBPART", "SECTION", "APPENDIX", "X"],
              "hierarchy_metadata": ['{"citation": "3 CFR 101.1"}', "[1]", "{", '"s"', "[" * 3000, "{&quot;citation&quot;: 1}"]}),
    "fr": ("", ["FEDREG", "RULE", "NOTICE"],
           ["VOL", "NO", "DATE", "CNTNTS", "SJDENT", "DOCENT", "FRDOCBP", "PGS", "RULES", "RULE", "PRORULES", "PRORULE",
            "NOTICES", "NOTICE", "PRESDOCS", "EXECORD", "PREAMB", "AGENCY", "SUBAGY", "SUBJECT", "CFR", "RIN", "SUPLINF",
            "HD", "P", "FP", "PRTPAGE", "FRDOC", "REGTEXT", "SECTION", "SECTNO", "AMDPAR", "GPOTABLE", "ROW", "ENT", "EXTRACT"],
           {"P": ["9741", "", "x"], "SOURCE": ["HED", "HD1", "HD2"], "TITLE": ["14", "x"], "TYPE": ["F", "S"]}),
}
XML_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn"), blacklist_characters="\ufffe\uffff") | st.just("\n"),
                   max_size=40)
WORDS = st.sampled_from(["SEC. 1.", "(a)", "§ 101.1", "Definitions.", "means", "The term", "PART 1—GENERAL", "FR Doc. 2024-1",
                         "14 CFR Part 39", "“quoted”", "", " ", "1", "Article 5", "shall"])


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


@given(st.one_of(inputs(good("public_sector", "bill.html")), xml_documents()))
def test_public_sector_html_reader(data):
    from custom_llm_public_sector import unstructured

    found = allowed(unstructured.html_lines, data)
    if found is not None:
        allowed(unstructured.parse_lines, "html", found[0], found[1], "file")


@given(texts(good("public_sector", "notice.txt"), good("text", "notes.md")))
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
    samples = {".xml": [good("public_sector", n) for n in XML_SAMPLES], ".html": [good("public_sector", "bill.html")],
               ".pdf": [PDF_SAMPLE], ".docx": [DOCX_SAMPLE]}.get(suffix, [good("public_sector", "notice.txt")])
    path = write(scratch, f"any{suffix}", data.draw(inputs(*samples)))
    allowed(read_file, path, path.name, {})


@given(texts(b"Pub. L. 113-44, sec. 101", b"3 CFR 101.1(a)(1)", b"89 FR 9776, 9778", b"/ke/act/1989-12-06/16#sec2"), st.text(max_size=80))
def test_public_sector_citation_parsing(citation, other):
    from custom_llm_public_sector.citations import normalize, same_citation

    assert isinstance(normalize(citation), str)
    assert isinstance(same_citation(other, citation), bool) and isinstance(same_citation(citation, other), bool)
    if len(citation.strip().splitlines()) <= 1:  # the metric reads the first line of a prediction
        assert same_citation(citation, citation)


# --- the text domain -------------------------------------------------------------------------------


@given(data=inputs(good("text", "notes.md"), good("text", "chat.jsonl")))
def test_text_reader(data, scratch):
    from custom_llm.sources import read_text

    report = StageReport()
    text = read_text(write(scratch, "file.txt", data), report, 50_000_000)
    assert (text is None) == bool(report.issues)
    if text is not None:
        text.encode("utf-8")


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
                               ["text", "messages", "role", "content", "x"]), inner, max_size=4), max_leaves=12)
MESSAGES = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant", "bot"]),
                                           "content": st.one_of(st.text(max_size=30), st.integers())}), max_size=4)


@given(st.one_of(st.text(max_size=500), JSON_VALUES.map(json.dumps), MESSAGES.map(lambda m: json.dumps({"messages": m})),
                 texts(good("text", "chat.jsonl")), st.integers(1, 5000).map(lambda n: "[" * n + "]" * n)))
def test_text_domain_jsonl_lines(line):
    from custom_llm.default_plugins.text_domain import read_jsonl_line

    record = allowed(read_jsonl_line, line)
    if record is not None:
        assert set(record) in ({"text"}, {"messages"})
        json.dumps(record, ensure_ascii=False).encode("utf-8")


# --- whole domains: one damaged file among good ones -----------------------------------------------


def _plugins():
    from custom_llm.plugins import Plugins

    plugins = Plugins(load_entry_points=False)
    for name, module in PLUGIN_MODULES.items():
        plugins.register(importlib.import_module(module), name=name)
    return plugins


@pytest.fixture(scope="module")
def domain_sources(scratch) -> dict[str, Path]:
    """Per domain, a copy of the corpus' good files (automotive: one generated test with its report)."""
    import shutil

    from bad_input_corpus import GOOD_EXTRAS

    sources = {}
    for domain in ("text", "codebase", "automotive", "public_sector"):
        folder = scratch / "domains" / domain
        folder.mkdir(parents=True)  # git keeps no empty folder: automotive's good files are all generated
        if (CORPUS / domain / "good").is_dir():
            shutil.copytree(CORPUS / domain / "good", folder, dirs_exist_ok=True)
        GOOD_EXTRAS.get(domain, lambda _: None)(folder)
        sources[domain] = folder
    return sources


@share(0.5)
@given(data=st.data())
def test_every_domain_ingests_a_damaged_file_without_raising(data, domain_sources):
    domain = data.draw(st.sampled_from(sorted(domain_sources)))
    source = domain_sources[domain]
    files = sorted(p for p in source.rglob("*") if p.is_file())
    victim = data.draw(st.sampled_from(files))
    original = victim.read_bytes()
    victim.write_bytes(data.draw(inputs(original[:20_000])))
    try:
        plugins = _plugins()
        read = ingest_domain(domain, source, plugins, prepare=False)
        report, documents = read.report, read.documents
    finally:
        victim.write_bytes(original)
    assert not [i for i in report.issues if i.reason.startswith(SAFETY_NETS)], report.issues
    for document in documents:
        document.text.encode("utf-8")
