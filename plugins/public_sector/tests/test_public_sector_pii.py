"""Planted personal data of every kind is redacted before anything leaves preparation: no value
survives in any document's text or metadata, nor in the report, which holds counts only. The step is
core's (custom_llm.personal_data), on by default for this domain; the detectors' own tests are in
tests/test_personal_data.py."""

from __future__ import annotations

import json

import pytest

from custom_llm.personal_data.preparer import OFF

PLANTED = {
    "EMAIL": ["maria.garcia@example.org", "j.schmidt@behoerde.example.de"],
    "PHONE": ["+33 1 42 68 53 00", "(202) 555-0143", "030 1234567", "020 7946 0958", "06 12 34 56 78"],
    "US_SSN": ["123-45-6789"],
    "FR_NIR": ["1 85 05 78 006 084 91", "185057800608491"],
    "DE_TAX_ID": ["86095742719", "65 929 970 489"],
    "UK_NINO": ["AB 12 34 56 C", "JG103759A"],
    "IBAN": ["DE89 3704 0044 0532 0130 00", "FR14 2004 1010 0505 0001 3M02 606", "GB82WEST12345698765432"],
    "ADDRESS": [
        "1600 Pennsylvania Avenue NW, Washington, DC 20500",
        "12 bis rue de la Paix, 75002 Paris",
        "Musterstraße 12a, 10115 Berlin",
        "10 Downing Street, London SW1A 2AA",
        "Calle Mayor 5, 28013 Madrid",
    ],
}
# What must not survive of each address (the whole string is replaced, these are its telling parts).
ADDRESS_PARTS = [
    "Pennsylvania Avenue",
    "rue de la Paix",
    "Musterstraße 12a",
    "Downing Street",
    "Calle Mayor 5",
    "10115",
    "75002",
    "SW1A 2AA",
    "28013",
]
LEGAL_REFERENCES = [
    "5 U.S.C. 552",
    "89 FR 9834",
    "Pub. L. 113-44",
    "OMB Control Number 0938-1234",
    "FR Doc. 2024-02801",
    "RIN 0938-AV33",
    "127 Stat. 555",
    "sections 1475-1477",
    "3 CFR 101.1",
    "in fiscal year 2014",
    "the 2010 Supreme Court decision",
]


def _english() -> str:
    return (
        "SECTION 1. Contact\n"
        f"Write to {PLANTED['EMAIL'][0]} or call {PLANTED['PHONE'][1]}. "
        f"The applicant's SSN is {PLANTED['US_SSN'][0]}.\n"
        f"The claimant lives at {PLANTED['ADDRESS'][0]}. UK office: {PLANTED['ADDRESS'][3]}, "
        f"tel. {PLANTED['PHONE'][3]}; NINO {PLANTED['UK_NINO'][0]} and {PLANTED['UK_NINO'][1]}.\n"
        f"Payments to IBAN {PLANTED['IBAN'][2]}.\n"
        "SECTION 2. References\n" + "; ".join(LEGAL_REFERENCES) + ".\n"
    )


def _french_german_spanish() -> str:
    return (
        "# Article 1 Coordonnées\n\n"
        f"Mme Dupont, domiciliée {PLANTED['ADDRESS'][1]}, joignable au {PLANTED['PHONE'][0]}"
        f" ou au {PLANTED['PHONE'][4]},"
        f" NIR : {PLANTED['FR_NIR'][0]}, numéro de sécurité sociale {PLANTED['FR_NIR'][1]},"
        f" IBAN {PLANTED['IBAN'][1]}.\n\n"
        "# Artikel 2 Kontakt\n\n"
        f"Herr Schmidt, {PLANTED['ADDRESS'][2]}, Telefon {PLANTED['PHONE'][2]}, E-Mail {PLANTED['EMAIL'][1]},"
        f" Steuer-ID {PLANTED['DE_TAX_ID'][0]}, Steueridentifikationsnummer {PLANTED['DE_TAX_ID'][1]},"
        f" IBAN {PLANTED['IBAN'][0]}.\n\n"
        "# Artículo 3 Contacto\n\n"
        f"La interesada reside en {PLANTED['ADDRESS'][4]}.\n"
    )


def _ecfr_with_personal_data() -> str:
    return (
        '<?xml version="1.0"?>\n'
        '<DIV5 N="9" TYPE="PART" hierarchy_metadata="{&quot;citation&quot;:&quot;9 CFR Part 9&quot;}">'
        "<HEAD>PART 9—CONTACTS</HEAD>"
        '<DIV8 N="9.1" TYPE="SECTION"><HEAD>§ 9.1 Contact maria.garcia@example.org.</HEAD>'
        f"<P><I>Responsible officer</I> means the person reachable at {PLANTED['EMAIL'][0]}"
        f" or {PLANTED['PHONE'][1]}.</P>"
        "</DIV8></DIV5>"
    )


@pytest.fixture(scope="module")
def planted(tmp_path_factory, ingest):
    folder = tmp_path_factory.mktemp("planted")
    (folder / "english.txt").write_text(_english(), encoding="utf-8")
    (folder / "europe.md").write_text(_french_german_spanish(), encoding="utf-8")
    (folder / "part9.xml").write_text(_ecfr_with_personal_data(), encoding="utf-8")
    (folder / "page.html").write_text(
        f"<html><head><title>Notice</title></head><body><h1>Notice</h1><p>Contact {PLANTED['EMAIL'][0]}, "
        f"SSN {PLANTED['US_SSN'][0]}.</p></body></html>",
        encoding="utf-8",
    )
    return folder, ingest(folder, prepare=True), ingest(folder, prepare=True, redact_personal_data=False)


def _everything(result) -> str:
    rows = [json.dumps(d.to_row(), ensure_ascii=False) for d in result.documents]
    return "\n".join(rows) + json.dumps(result.report.to_json(), ensure_ascii=False)


def test_every_planted_value_is_gone(planted):
    _, redacted, _ = planted
    assert redacted.report.issues == []
    everything = _everything(redacted)
    for kind, values in PLANTED.items():
        for value in values if kind != "ADDRESS" else ADDRESS_PARTS:
            assert value not in everything, f"{kind} value {value!r} survived redaction"
            compact = value.replace(" ", "")
            assert kind == "ADDRESS" or compact not in everything.replace(" ", "")


def test_placeholders_are_typed_and_counted(planted):
    _, redacted, _ = planted
    text = "\n".join(d.text for d in redacted.documents)
    counts = {k.split(": ")[1]: v for k, v in redacted.report.counts.items() if k.startswith("redacted: ")}
    for kind in PLANTED:
        assert f"<{kind}>" in text, kind
        assert counts.get(kind.lower(), 0) >= 1, (kind, counts)
    assert counts["iban"] >= 3 and counts["fr_nir"] >= 2 and counts["de_tax_id"] >= 2 and counts["uk_nino"] >= 2


def test_metadata_is_redacted_too(planted):
    _, redacted, _ = planted
    unit = [d for d in redacted.documents if d.metadata.get("citation") == "9 CFR 9.1"][0]
    assert unit.metadata["heading"] == "Contact <EMAIL>"
    assert unit.metadata["definitions"]["Responsible officer"] == "the person reachable at <EMAIL> or <PHONE>"
    assert unit.id  # the id is kept, so provenance survives redaction


def test_legal_references_are_not_mistaken_for_personal_data(planted):
    _, redacted, _ = planted
    text = "\n".join(d.text for d in redacted.documents)
    for reference in LEGAL_REFERENCES:
        assert reference in text, reference


def test_off_switch_keeps_public_text(planted):
    _, _, kept = planted
    text = "\n".join(d.text for d in kept.documents)
    assert PLANTED["EMAIL"][0] in text and PLANTED["IBAN"][0] in text
    assert not any(k.startswith("redacted: ") for k in kept.report.counts)
    assert kept.report.counts[OFF] == 1


def test_only_chosen_kinds(tmp_path, ingest):
    (tmp_path / "a.txt").write_text(f"Mail {PLANTED['EMAIL'][0]} at {PLANTED['ADDRESS'][0]}.", encoding="utf-8")
    result = ingest(tmp_path, prepare=True, redact_kinds=["EMAIL"])
    assert "<EMAIL>" in result.documents[0].text and "Pennsylvania Avenue" in result.documents[0].text
