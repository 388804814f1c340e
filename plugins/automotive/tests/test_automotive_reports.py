"""Report reading: section splitting, fields, PDF round trip."""

from __future__ import annotations

from custom_llm_automotive.reports import extract_fields, read_report, split_sections, write_simple_pdf

TEXT = """Frontal test of the 2021 Avela C
Prepared for the safety board.

# Summary
The vehicle met all limits.

1. TEST CONDITIONS
Test number: T0042
Impact speed: 56.3 km/h
Time of test: 10:32:45

2.1 Dummies
Driver dummy: Hybrid III 50th percentile male

OBSERVATIONS
No fuel leakage.

Conclusion
==========
Pass. Note: see annex.
"""


def test_sections_are_split_on_every_heading_style():
    sections = split_sections(TEXT)
    assert [s.title for s in sections] == ["Preamble", "Summary", "1. TEST CONDITIONS", "2.1 Dummies", "OBSERVATIONS", "Conclusion"]
    assert sections[0].text.startswith("Frontal test") and sections[-1].text == "Pass. Note: see annex."
    assert sections[2].fields == {"Test number": "T0042", "Impact speed": "56.3 km/h", "Time of test": "10:32:45"}


def test_fields_only_from_key_value_lines():
    assert extract_fields("Vehicle: Avela C\nthe speed was: high and it went on and on\n") == {"Vehicle": "Avela C"}


def test_pdf_round_trip(tmp_path):
    path = tmp_path / "report.pdf"
    lines = TEXT.split("\n") + ["Laboratory: Crash-Prüfzentrum Köln (Halle 2)"]
    write_simple_pdf(path, lines, lines_per_page=12)
    sections = read_report(path)
    titles = [s.title for s in sections]
    assert "1. TEST CONDITIONS" in titles and "OBSERVATIONS" in titles
    conditions = next(s for s in sections if s.title == "1. TEST CONDITIONS")
    assert conditions.fields["Impact speed"] == "56.3 km/h"
    assert "Crash-Prüfzentrum Köln (Halle 2)" in sections[-1].text


def test_generated_reports_name_their_test(ingested, corpus):
    documents, (_, written) = ingested.documents, corpus
    for test in written:
        sections = [d for d in documents if d.metadata["doc_type"] == "report_section" and d.group == test.test_id]
        fields = {k: v for d in sections for k, v in d.metadata["fields"].items()}
        assert fields["Test number"] == test.test_id
        assert fields["Impact speed"].endswith("km/h")
