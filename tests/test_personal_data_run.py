"""End to end: a small clinical-records domain written from the docs marks each patient's name and
record number as identifiers; a user switches personal-data redaction on with ``--option``. Neither
a planted e-mail address nor a marked identifier reaches the stored documents, the packed training
data, the report or the model card, and the counts per kind do."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from custom_llm import Document, Domain, Example, StageReport, hookimpl, relative_name, walk_files
from custom_llm.testing import registered_plugin, run_domain

PATIENTS = [("Amalia", "Kovalenko", "MRN-40417"), ("Bertrand", "Ozturk", "MRN-51173"), ("Chiara", "Lindqvist", "MRN-62291")]
PATIENTS += [("Dmitri", "Haverkamp", "MRN-73385"), ("Eloise", "Nakagawa", "MRN-84409"), ("Farid", "Castellano", "MRN-95521")]
EMAIL = "amalia.kovalenko@example.org"


class Records:
    """A tiny FHIR-like domain: each file holds one Patient resource and its visit notes."""

    @staticmethod
    def discover(source: Path, report: StageReport) -> list[Path]:
        return [p for p in walk_files(source, report) if p.suffix == ".json"]

    @staticmethod
    def ingest(source: Path, files: list[Path], report: StageReport) -> Iterator[Document]:
        for path in files:
            with report.reading(relative_name(path, source)):
                patient = json.loads(path.read_text(encoding="utf-8"))
                name = patient["name"][0]
                identifiers = {
                    "patient_name": [" ".join([*name["given"], name["family"]]), name["family"]],
                    "mrn": [i["value"] for i in patient["identifier"]],
                }
                notes = "\n".join(patient["notes"])
                yield Document(text=notes, source=relative_name(path, source), metadata={"format": "fhir"}, identifiers=identifiers)

    @staticmethod
    def make_examples(document: Document, options: Mapping[str, Any]) -> list[Example]:
        return [Example(completion=document.text)]

    @hookimpl
    def register_domains(self, register):
        register(Domain(name="records", description="patients", discover=self.discover, ingest=self.ingest, make_examples=self.make_examples))


def _write_patients(folder: Path) -> None:
    folder.mkdir()
    for number, (given, family, mrn) in enumerate(PATIENTS):
        contact = f"Reach the patient at {EMAIL}." if number == 0 else "No e-mail on file."
        notes = [
            f"Visit {visit}: {given} {family} ({mrn}) reported mild headaches and was advised rest and fluids. "
            f"{contact} Ms. or Mr. {family} returns in {visit + 2} weeks; record {mrn} updated."
            for visit in range(12)
        ]
        resource = {"resourceType": "Patient", "name": [{"given": [given], "family": family}], "identifier": [{"value": mrn}], "notes": notes}
        (folder / f"{given}_{family}_{number:04d}.json").write_text(json.dumps(resource), encoding="utf-8")


def _stored_text(root: Path) -> str:
    """Every file a run leaves in ``root`` as text, Arrow and JSON alike (manifest.json excepted:
    it lists source paths by design and stays with the organization)."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            found.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(found)


def _packed_text(cache: Path, run_dir: Path) -> str:
    """The packed training blocks, decoded with the run's tokenizer."""
    import datasets
    from transformers import AutoTokenizer

    tokenizer_dirs = [p.parent for p in cache.rglob("tokenizer.json")] + [p.parent for p in run_dir.rglob("tokenizer.json")]
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dirs[0])
    texts = []
    for arrow in cache.rglob("*.arrow"):
        table = datasets.Dataset.from_file(str(arrow))
        if "input_ids" in table.column_names:
            texts += [tokenizer.decode(ids) for ids in table["input_ids"]]
    assert texts, "no packed blocks found in the cache"
    return "\n".join(texts)


def test_planted_email_and_marked_identifiers_never_reach_what_a_run_stores(tmp_path):
    _write_patients(tmp_path / "patients")
    with registered_plugin(Records(), "records-test"):
        report = run_domain("records", [tmp_path / "patients"], tmp_path / "run", "--option", "redact_personal_data=true")
    cache = Path(os.environ["CUSTOM_LLM_CACHE_DIR"])
    packed = _packed_text(cache, tmp_path / "run")
    stored = _stored_text(cache) + _stored_text(tmp_path / "run")
    assert "<PATIENT_NAME>" in packed and "<EMAIL>" in packed and "<MRN>" in packed
    for given, family, mrn in PATIENTS:
        for value in (given, family, mrn):
            assert value not in packed and value not in stored, value
    assert EMAIL not in packed and EMAIL not in stored and "kovalenko" not in stored.lower()
    counts = report["data"]["counts"]
    assert counts["redacted: email"] == 12  # one address in each of patient 0's 12 notes
    assert counts["redacted: mrn"] == 6 * 12 * 2
    assert counts["redacted: patient_name"] >= 6 * 12 * 2 + 6  # names in notes, and each file name
    card = (tmp_path / "run" / "README.md").read_text(encoding="utf-8")
    assert "- redacted: email: 12" in card and "- redacted: mrn: 144" in card
    report_md = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert "redacted: email 12" in report_md and "redacted: mrn 144" in report_md
