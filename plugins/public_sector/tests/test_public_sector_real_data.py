"""Every real file in ../shared/data/legal parses into its real structure: the number of units and
the citation, heading and hierarchy of a known one, checked against the files themselves."""

from __future__ import annotations

from collections import Counter


def test_every_file_is_read_without_problems(legal):
    assert legal.report.issues == []
    files = {k.split(": ")[1]: v for k, v in legal.report.counts.items() if k.startswith("files: ")}
    assert files == {"uslm": 2, "akoma_ntoso": 1, "ecfr": 2, "federal_register": 1, "html": 1, "pdf": 1, "markdown": 1}


def test_every_document_carries_its_structure(legal):
    for document in legal.documents:
        meta = document.metadata
        assert document.text.strip()
        assert meta["citation"] and meta["hierarchy_path"] and meta["format"]
        assert meta["hierarchy"][-1]["kind"] == meta["kind"]
        assert meta["language"] == "en", (meta["citation"], meta["language"])
        assert document.group == document.source  # a whole file stays on one side of the split


def test_public_law_uslm(legal):
    units = legal.of("113publ44-uslm.xml")
    sections = [d for d in units if d.metadata["kind"] == "section"]
    assert [d.metadata["number"] for d in sections] == ["101", "102", "103", "104", "105", "106"]
    sec101 = legal.cited("Pub. L. 113-44, sec. 101")
    assert sec101.metadata["format"] == "uslm"
    assert sec101.text.startswith("(a) Such amounts as may be necessary")
    assert "(1) The payment of a death gratuity" in sec101.text
    subunits = {s["citation"] for s in sec101.metadata["subunits"]}
    assert {"Pub. L. 113-44, sec. 101(a)", "Pub. L. 113-44, sec. 101(a)(4)", "Pub. L. 113-44, sec. 101(b)(2)"} <= subunits
    assert legal.cited("Pub. L. 113-44, sec. 103").metadata["heading"] == "Expiration date"  # from the side note
    assert "127 STAT" not in sec101.text  # page markers are not text
    assert sec101.metadata["hierarchy_path"].startswith("Public Law 113-44 — Department of Defense Survivor Benefits")


def test_bill_uslm(legal):
    sections = legal.of("BILLS-116s1014es.xml")
    assert len(sections) == 10
    findings = legal.cited("S. 1014 (116th Cong.), sec. 2")
    assert findings.metadata["heading"] == "FINDINGS"
    assert findings.metadata["identifier"] == "/us/bill/116/s/1014/s2"
    assert findings.text.splitlines()[0] == "Congress finds that—"
    assert legal.cited("S. 1014 (116th Cong.), sec. 10").metadata["heading"] == "EXPENDITURES OF COMMISSION"


def test_akoma_ntoso_csd13(legal):
    units = legal.of("akomantoso_act_csd13.xml")
    sections = [d for d in units if d.metadata["kind"] == "section"]
    assert len(sections) == 15  # the act's own sections; the quoted (amending) ones are not units
    assert all(not d.metadata["citation"].split("#")[1].startswith("mmod") for d in units)
    sec2 = legal.cited("/ke/act/1989-12-06/16#sec2")
    meta = sec2.metadata
    assert meta["akn_version"] == "3.0/CSD13" and meta["work_iri"] == "/ke/act/1989-12-06/16"
    assert meta["heading"] == "Short title and commencement" and meta["number"] == "2"
    assert meta["declared_language"] == "en"  # FRBRlanguage "eng"
    assert meta["definitions"]["Director"] == "the Director of the Service appointed under section 3C"
    assert "ranger" in meta["definitions"]
    assert {s["citation"] for s in meta["subunits"]} >= {"/ke/act/1989-12-06/16#sec2-lst1-itma"}
    sec3 = legal.cited("/ke/act/1989-12-06/16#sec3")
    assert "3A. Functions of the Service." in sec3.text  # quoted structure rendered inside its section


def test_ecfr_part(legal):
    units = legal.of("title-3-part-101-2024-05-17.xml")
    assert [d.metadata["citation"] for d in units] == [
        "3 CFR 101.1",
        "3 CFR 101.2",
        "3 CFR 101.4",
        "3 CFR 101.5",
        "3 CFR 101.6",
        "3 CFR 101.7",
        "3 CFR 101.8",
    ]
    first = legal.cited("3 CFR 101.1")
    assert first.metadata["heading"] == "Executive Office of the President"
    assert first.metadata["hierarchy"][0] == {
        "kind": "part",
        "number": "101",
        "heading": "PUBLIC INFORMATION PROVISIONS OF THE ADMINISTRATIVE PROCEDURES ACT",
    }
    assert legal.cited("3 CFR 101.5").metadata["source_note"] == "[42 FR 65131, Dec. 30, 1977]"


def test_ecfr_title(legal):
    units = legal.of("ECFR-title1.xml")
    # 288 DIV8 sections in the file, 17 of them "[Reserved]" with no text
    assert len(units) == 271
    assert Counter(d.metadata["kind"] for d in units) == {"section": 271}
    definitions = legal.cited("1 CFR 1.1")
    levels = [(h["kind"], h["number"]) for h in definitions.metadata["hierarchy"]]
    assert levels == [("title", "1"), ("chapter", "I"), ("subchapter", "A"), ("part", "1"), ("section", "1.1")]
    assert definitions.metadata["definitions"]["Agency"].startswith("each authority, whether or not within")
    assert definitions.metadata["definitions"]["Document"].startswith("includes any Presidential proclamation")
    committee = legal.cited("1 CFR 2.2")
    assert committee.metadata["heading"] == "Administrative Committee of the Federal Register"
    assert {"1 CFR 2.2(b)(1)", "1 CFR 2.2(d)"} <= {s["citation"] for s in committee.metadata["subunits"]}
    assert sum(len(d.metadata["definitions"]) for d in units) > 50


def test_federal_register_issue(legal):
    units = legal.of("FR-2024-02-12.xml")
    documents = {d.metadata["fr_doc"] for d in units}
    assert len(documents) == 96  # every FR document of the issue
    preambles = [d for d in units if d.metadata["kind"] == "preamble"]
    assert len(preambles) == 95  # all but the proclamation, which has no preamble
    boeing = legal.cited("89 FR 9741")
    assert boeing.metadata["heading"] == "Airworthiness Directives; The Boeing Company Airplanes"
    assert boeing.metadata["fr_doc"] == "2024-02930"
    assert boeing.metadata["agency"] == "DEPARTMENT OF TRANSPORTATION"
    assert boeing.metadata["cfr"] == "14 CFR Part 39"
    assert [h["kind"] for h in boeing.metadata["hierarchy"]] == ["issue", "category", "agency", "rule", "preamble"]
    parts = [d for d in units if d.metadata["fr_doc"] == "2024-02930" and d.metadata["kind"] == "discussion"]
    assert parts[0].metadata["heading"] == "Comments Invited"
    pinpointed = {d.metadata["heading"]: d.metadata["citation"] for d in parts}
    assert pinpointed["AD Requirements"] == "89 FR 9741, 9742"  # starts on the next printed page
    regulatory = [d for d in units if d.metadata["kind"] == "section"]
    assert len(regulatory) == 18
    safety_zone = [d for d in regulatory if d.metadata["number"] == "165.715"][0]
    assert safety_zone.metadata["citation"] == "89 FR 9800, 9802"  # a proposed rule's regulatory text
    assert safety_zone.metadata["cfr_citation"] == "33 CFR 165.715"
    assert safety_zone.text.startswith("(a) Location. The following area is a safety zone")
    proclamation = [d for d in units if d.metadata["fr_doc"] == "2024-02934"][0]
    assert proclamation.metadata["citation"] == "89 FR 9739"
    assert "Proclamation 10701 of February 6, 2024" in proclamation.text


def test_xhtml_bill(legal):
    units = legal.of("BILLS-119hr9025ih.html")
    section = legal.cited("H. R. 9025 (Introduced-in-House), sec. 1")
    assert section.metadata["heading"] == "John Madden Memorial Post Office"
    assert section.text.startswith("(a) Designation.—The facility of the United States Postal Service")
    assert len(units) == 4


def test_government_pdf(legal):
    units = legal.of("CFR-XML_User-Guide-v1.pdf")
    numbers = [d.metadata["number"] for d in units if d.metadata["number"]]
    assert numbers[-13:] == ["1", "1.1", "1.2", "2", "2.1", "2.2", "2.2.1", "2.3", "2.4", "2.5", "2.6", "2.7", "3"]
    xpath = legal.cited("CFR-XML_User-Guide_v1, 2.2.1")
    assert xpath.metadata["heading"] == "XPath Examples"
    assert [h["number"] for h in xpath.metadata["hierarchy"]] == ["", "2", "2.2", "2.2.1"]
