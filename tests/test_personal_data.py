"""Core's personal-data redaction: each detector finds what it should and leaves its near misses
alone, placeholders are consistent within a document, values marked as identifiers are replaced
wherever they occur, and the switch works for any domain."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from custom_llm.errors import ConfigError
from custom_llm.personal_data import DocumentRedaction, Redactor, card_valid, iban_valid, luhn_valid, nir_valid, steuer_id_valid
from custom_llm.personal_data.preparer import OFF, start
from custom_llm.records import Document, StageReport
from custom_llm.testing import domain_options, ingest_domain

# kind -> (found, near misses that must be left as they are)
CASES = {
    "EMAIL": (["maria.garcia@example.org", "j.o'neil+tag@mail.example.co.uk"], ["user@localhost", "@handle", "a@b"]),
    "PHONE": (
        ["+33 1 42 68 53 00", "(202) 555-0143", "030 1234567", "020 7946 0958", "06 12 34 56 78", "Tel. 0221 12 34 56"],
        ["OMB Control Number 0938-1234", "Pub. L. 113-44", "in fiscal year 2014", "sections 1475-1477"],
    ),
    "US_SSN": (["123-45-6789"], ["000-12-3456", "666-12-3456", "123-00-6789"]),
    "FR_NIR": (["1 85 05 78 006 084 91", "NIR : 1 85 05 78 006 084 92"], ["file 1 85 05 78 006 084 92"]),
    "DE_TAX_ID": (["86095742719", "Steuer-ID 86095742718"], ["number 86095742718"]),
    "UK_NINO": (["AB 12 34 56 C", "JG103759A"], ["GB 12 34 56 C", "QQ 12 34 56 E"]),
    "IBAN": (["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432"], ["DE88 3704 0044 0532 0130 00", "GB82WEST1234569876543"]),
    "CARD": (
        ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "6011 1111 1111 1117"],
        ["4111 1111 1111 1112", "1234 5678 9012 3452", "order 7992739871300000", "ref 4111 1111 1111 1111 2222"],
    ),
    "IP_ADDRESS": (
        ["192.168.10.20", "host 1.2.3.4", "2001:db8::1", "fe80::1ff:fe23:4567:890a"],
        ["version 10.0.19041.1", "§ 1.2.3.4", "step 1.2.3.4", "127.0.0.1", "255.255.255.0", "std::vector", "12:30:45", "1.2.3.4.5"],
    ),
}


def _found(text: str) -> list[tuple[str, str]]:
    return [(kind, text[start:end]) for start, end, kind in Redactor().find(text)]


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_detector_finds_its_kind_and_leaves_near_misses(kind):
    found, near = CASES[kind]
    for value in found:
        kinds = [k for k, _ in _found(f"See {value} here.")]
        assert kinds == [kind], (value, _found(f"See {value} here."))
    for value in near:
        assert _found(f"See {value} here.") == [], value


def test_check_digits():
    assert iban_valid("DE89 3704 0044 0532 0130 00") and not iban_valid("DE88 3704 0044 0532 0130 00")
    assert nir_valid("1 85 05 78 006 084 91") and not nir_valid("1 85 05 78 006 084 92")
    assert steuer_id_valid("86095742719") and not steuer_id_valid("86095742718")
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert card_valid("4111111111111111") and not card_valid("7992739871300000")  # Luhn-valid, no card scheme


def test_placeholders_are_consistent_within_a_document():
    counts: Counter = Counter()
    redaction = DocumentRedaction(Redactor(), counts=counts)
    text = redaction.redact("Mail ann@example.org, then bob@example.org, then ANN@example.org again.")
    assert text == "Mail <EMAIL>, then <EMAIL_2>, then <EMAIL> again."
    assert redaction.redact("Heading: bob@example.org") == "Heading: <EMAIL_2>"  # metadata shares the table
    assert counts == Counter({"EMAIL": 4})
    # a new document starts its own table
    assert Redactor().redact("bob@example.org") == "<EMAIL>"


def test_identifiers_are_replaced_wherever_they_occur():
    counts: Counter = Counter()
    marked = {"patient_name": "Jane Doe", "mrn": ["123", "A-77"], "x": "1"}
    redaction = DocumentRedaction(None, marked, counts)
    text = "JANE DOE (mrn 123, alt a-77) seen; Jane_Doe_91234.json; jane-doe; Doe alone; order 91234"
    assert redaction.redact(text) == "<PATIENT_NAME> (mrn <MRN>, alt <MRN_2>) seen; <PATIENT_NAME>_91234.json; <PATIENT_NAME>; Doe alone; order 91234"
    assert counts["PATIENT_NAME"] == 3 and counts["MRN"] == 2
    assert counts["identifiers not searched (shorter than 2 characters)"] == 1  # "1" would erase every 1


def test_identifiers_never_travel_with_the_document():
    document = Document(text="A record.", source="a.json", identifiers={"name": "Jane Doe"})
    assert "Jane" not in repr(document)
    assert "Jane" not in str(document.to_row()) and Document.from_row(document.to_row()).identifiers == {}
    assert document == Document(text="A record.", source="a.json")


def _document() -> Document:
    return Document(
        text="Patient Jane Doe, MRN 4711-22, mail jane.doe@example.org, card 4111 1111 1111 1111.",
        source="patients/Jane_Doe_0c1f.json",
        metadata={"format": "json", "title": "Jane Doe record", "contacts": ["jane.doe@example.org"]},
        identifiers={"patient_name": "Jane Doe", "mrn": "4711-22"},
    )


def test_the_step_redacts_text_metadata_source_and_counts_kinds():
    report = StageReport()
    step = start({"redact_personal_data": True}, report)
    document = _document()
    redacted = step(document)
    assert redacted.text == "Patient <PATIENT_NAME>, MRN <MRN>, mail <EMAIL>, card <CARD>."
    assert redacted.source == "patients/<PATIENT_NAME>_0c1f.json" and redacted.group.startswith(redacted.source + "#")
    assert redacted.metadata == {"format": "json", "title": "<PATIENT_NAME> record", "contacts": ["<EMAIL>"]}
    assert redacted.id == document.id and redacted.identifiers == {}
    counts = {k: v for k, v in report.counts.items() if k.startswith("redacted: ")}
    assert counts == {"redacted: patient_name": 3, "redacted: mrn": 1, "redacted: email": 2, "redacted: card": 1}
    assert report.counts["documents with personal data redacted"] == 1
    assert "Jane" not in str(report.to_json()) and "example.org" not in str(report.to_json())


def test_switched_off_only_marked_identifiers_are_replaced():
    report = StageReport()
    redacted = start({"redact_personal_data": False}, report)(_document())
    # the marked name is taken out even of the address nobody looked for
    assert redacted.text == "Patient <PATIENT_NAME>, MRN <MRN>, mail <PATIENT_NAME>@example.org, card 4111 1111 1111 1111."
    assert report.counts[OFF] == 1 and "redacted: email" not in report.counts
    plain = Document(text="mail a@example.org", source="b.txt")
    assert start({"redact_personal_data": False}, StageReport())(plain) is plain


def test_only_chosen_kinds():
    report = StageReport()
    redacted = start({"redact_personal_data": True, "redact_kinds": ["CARD"]}, report)(_document())
    assert "<PATIENT_NAME>@example.org" in redacted.text and "<CARD>" in redacted.text and "<EMAIL>" not in redacted.text


def test_every_domain_has_the_switch_with_its_own_default(tmp_path):
    assert domain_options("text")["redact_personal_data"] is False
    assert domain_options("text", redact_personal_data=True)["redact_personal_data"] is True
    with pytest.raises(ConfigError, match=r"redact_kinds: unknown kinds \['PASSPORT'\]"):
        domain_options("text", redact_kinds=["EMAIL", "PASSPORT"])
    with pytest.raises(ConfigError, match="must be bool"):
        domain_options("text", redact_personal_data="yes")
    (tmp_path / "a.txt").write_text("Write to maria.garcia@example.org or call (202) 555-0143.\n", encoding="utf-8")
    kept = ingest_domain("text", tmp_path)
    assert "maria.garcia@example.org" in kept.documents[0].text and kept.report.counts[OFF] == 1
    redacted = ingest_domain("text", tmp_path, redact_personal_data=True)
    assert redacted.documents[0].text == "Write to <EMAIL> or call <PHONE>.\n"


def test_the_tutorial_fhir_example_runs_as_written(tmp_path):
    """The tutorial's FHIR Patient parser, run through core's step: what the page says comes out."""
    import re
    from pathlib import Path

    tutorial = (Path(__file__).resolve().parents[1] / "docs" / "plugins" / "tutorial.md").read_text(encoding="utf-8")
    after = tutorial[tutorial.index("### Marking identifiers in structured records") :]
    namespace: dict = {}
    exec(re.search(r"```python\n(.*?)```", after, re.DOTALL).group(1), namespace)
    patient = {
        "resourceType": "Patient",
        "name": [{"given": ["Jane"], "family": "Doe"}],
        "identifier": [{"value": "4711-22"}],
        "birthDate": "1970-01-01",
    }
    (tmp_path / "Jane_Doe_0c1f.json").write_text(json.dumps(patient), encoding="utf-8")
    report = StageReport()
    document = start({"redact_personal_data": False}, report)(namespace["patient_document"](tmp_path / "Jane_Doe_0c1f.json", tmp_path))
    assert document.text.startswith("Patient <PATIENT_NAME>\n") and 'birthDate: "<BIRTH_DATE>"' in document.text
    assert document.source == "<PATIENT_NAME>_0c1f.json" and "Jane" not in document.text + document.source
    assert report.counts["redacted: patient_name"] == 2 and report.counts["redacted: birth_date"] == 1


def test_a_scaffolded_plugin_marks_its_identifier_fields(tmp_path, monkeypatch):
    """``custom-llm new-plugin``'s CSV domain: the columns named in ``identifier_fields`` are marked,
    so a customer's name is gone from the record and from every other record's text that quotes it."""
    import importlib
    import sys

    from custom_llm.plugins import Plugins
    from custom_llm.scaffold import write_plugin

    folder = write_plugin("claims", tmp_path / "claims")
    monkeypatch.syspath_prepend(str(folder))
    plugin = importlib.import_module("custom_llm_claims.plugin")
    for name in [m for m in sys.modules if m.startswith("custom_llm_claims")]:
        sys.modules.pop(name)
    plugins = Plugins(load_entry_points=False)
    plugins.register(plugin, "claims")
    (tmp_path / "data").mkdir()
    rows = ["id,item,customer,observation,resolution", "R-1,unit A,Ingrid Svensson,noise when Ingrid Svensson starts it,replaced belt"]
    (tmp_path / "data" / "records.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    kept = ingest_domain("claims", tmp_path / "data", plugins)
    assert "Ingrid Svensson" in kept.documents[0].text  # nothing marked: the default
    marked = ingest_domain("claims", tmp_path / "data", plugins, identifier_fields=["customer"])
    document = marked.documents[0]
    assert "Svensson" not in document.text + json.dumps(dict(document.metadata)) and document.text.count("<CUSTOMER>") == 2
    assert marked.report.counts["redacted: customer"] == 4  # the column and the observation quoting it, in text and metadata


def test_text_domain_jsonl_lines_may_mark_identifiers(tmp_path):
    lines = [
        {"text": "Ticket from Jane Doe (account 4471-09): Jane Doe cannot log in.", "identifiers": {"customer": "Jane Doe", "account": ["4471-09"]}},
        {
            "messages": [{"role": "user", "content": "Hi, I am Jane Doe"}, {"role": "assistant", "content": "Hello!"}],
            "identifiers": {"customer": "Jane Doe"},
        },
        {"text": "Ticket from Ada", "identifiers": {"customer": 7}},
    ]
    (tmp_path / "tickets.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    read = ingest_domain("text", tmp_path)
    texts = {d.source: d.text for d in read.documents}
    assert texts["tickets.jsonl:1"] == "Ticket from <CUSTOMER> (account <ACCOUNT>): <CUSTOMER> cannot log in."
    assert "Jane" not in texts["tickets.jsonl:2"] and "<CUSTOMER>" in texts["tickets.jsonl:2"]
    messages = read.by_source()["tickets.jsonl:2"].metadata["messages"]
    assert messages[0]["content"] == "Hi, I am <CUSTOMER>"  # the conversation that trains is redacted too
    assert read.reasons()["tickets.jsonl:3"].startswith("invalid identifiers:")


def test_groups_stay_apart_when_their_names_are_redacted():
    """A group that is a marked value (a patient's record number) must not become one ``<MRN>``
    group for every patient: the split needs groups apart."""
    step = start({"redact_personal_data": False}, StageReport())
    documents = [
        step(Document(text=f"Visit of {mrn}.", source=f"{mrn}.json", group=mrn, identifiers={"mrn": mrn})) for mrn in ("A-17", "B-22", "A-17")
    ]
    groups = [d.group for d in documents]
    assert groups[0] == groups[2] != groups[1] and all(g.startswith("<MRN>#") for g in groups)
    assert not any("17" in g.split("#")[0] or "22" in g.split("#")[0] for g in groups)
