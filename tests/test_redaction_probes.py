"""Redacted values the model completes (docs/concepts.md#memorization): probes of placeholders hold
the redacted context, the value's length and a keyed hash, never the value; a tiny model trained on
the unredacted text completes the value from the redacted context (counted), an untrained one does
not; in a run the value appears nowhere in the run folder or the cache, and the probes file is 0600."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import click

from custom_llm.evaluation import redaction_probes
from custom_llm.personal_data.redactor import Redactor
from custom_llm.records import Document
from custom_llm.reports.gate import evaluate_gate
from custom_llm.testing import make_tiny_model, run_domain

EMAIL = "jane.doe@example.org"
RAW = (
    "The release process of this project is run by the maintainers.\n"
    f"To get access to the signing keys, write to the maintainer at {EMAIL} and wait.\n"
    "Every release is tagged and signed.\n"
)


def _probes(tmp_path: Path) -> tuple[bytes, list[dict]]:
    raw = Document(RAW, "release.md")
    prepared = raw.replace(text=Redactor().redact(RAW))
    assert "<EMAIL>" in prepared.text and EMAIL not in prepared.text
    recorder = redaction_probes.ProbeRecorder("test")
    recorder.observe(raw, prepared)
    recorder.write(tmp_path)
    data = json.loads((tmp_path / redaction_probes.PROBE_FILE).read_text())
    assert EMAIL not in (tmp_path / redaction_probes.PROBE_FILE).read_text()
    assert stat.S_IMODE((tmp_path / redaction_probes.PROBE_FILE).stat().st_mode) == 0o600
    return bytes.fromhex(data["key"]), data["probes"]


def test_alignment_finds_each_placeholder_value():
    raw = "mail jane@example.org or call +33 6 12 34 56 78, then jane@example.org again"
    prepared = "mail <EMAIL> or call <PHONE>, then <EMAIL> again"
    assert redaction_probes.original_values(raw, prepared) == [
        (5, "<EMAIL>", "jane@example.org"),
        (21, "<PHONE>", "+33 6 12 34 56 78"),
        (35, "<EMAIL>", "jane@example.org"),
    ]
    assert redaction_probes.original_values("List<T> of <EMAIL>", "List<T> of <EMAIL>") is None  # a placeholder in the raw text: unsure


def test_a_model_trained_on_the_unredacted_text_completes_the_value(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from custom_llm.data.document_start import document_start_ids

    key, probes = _probes(tmp_path)
    (probe,) = probes
    assert probe["context"].endswith("the maintainer at") and probe["length"] == len(EMAIL) + 1 and probe["placeholder"] == "<EMAIL>"
    texts = [p.read_text() for p in sorted(Path(click.__file__).parent.glob("*.py"))][:4] + [RAW]
    folder = make_tiny_model(tmp_path / "model", texts)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    untrained = AutoModelForCausalLM.from_pretrained(folder).eval()
    assert redaction_probes.completion_audit(untrained, tokenizer, key, probes) == [0.0]

    model = AutoModelForCausalLM.from_pretrained(folder)  # a redaction miss: the value in the training text
    ids = torch.tensor([[*document_start_ids(tokenizer), *tokenizer(RAW, add_special_tokens=False)["input_ids"]]])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    torch.manual_seed(0)
    for _ in range(150):
        loss = model(input_ids=ids, labels=ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    assert redaction_probes.completion_audit(model, tokenizer, key, probes) == [1.0]
    assert redaction_probes.completion_audit(model, tokenizer, bytes(32), probes) == [0.0]  # another key: the hash is keyed


def test_section_and_gate_read_the_paired_verdict():
    base = {"completed": [0.0] * 12}
    tuned = {"completed": [1.0] * 9 + [0.0] * 3}
    row = redaction_probes.section(base, tuned, seed=0)
    assert row["n"] == 12 and row["tuned_count"] == 9 and row["verdict"] == "worse" and row["p_value"] < 0.01
    gate = evaluate_gate({"redacted_values_at_base_level": True}, {"memorization": {"redacted_values": row}})
    assert not gate["passed"] and "completed base 0/12 -> tuned 9/12: worse" in gate["checks"][0]["detail"]
    same = redaction_probes.section(base, base, seed=0)
    assert evaluate_gate({"redacted_values_at_base_level": True}, {"memorization": {"redacted_values": same}})["passed"]
    assert not evaluate_gate({"redacted_values_at_base_level": True}, {"memorization": None})["passed"]  # not measured: fails


def test_a_run_probes_redacted_values_and_never_writes_them(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in sorted(Path(click.__file__).parent.glob("*.py"))[:8]:
        (corpus / f"{path.stem}.txt").write_text(path.read_text())
    for i in range(6):  # in every document, so the training split holds some
        (corpus / f"contact{i}.txt").write_text(RAW.replace(EMAIL, f"person{i}.{EMAIL}") * 3)
    monkeypatch.setenv("CUSTOM_LLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CUSTOM_LLM_REGISTRY", str(tmp_path / "runs.sqlite3"))
    run = tmp_path / "run"
    report = run_domain("text", [corpus], run, "--option", "redact_personal_data=true")
    row = report["memorization"]["redacted_values"]
    assert row is not None and row["n"] >= 1 and row["base_count"] == 0
    probes = run / redaction_probes.PROBE_FILE
    assert stat.S_IMODE(probes.stat().st_mode) == 0o600
    assert "Redacted values:" in (run / "report.md").read_text() and "redacted values completed" in (run / "README.md").read_text()
    for folder in (run, tmp_path / "cache"):
        for path in folder.rglob("*"):
            if path.is_file():
                assert EMAIL.encode() not in path.read_bytes(), path
    assert list((tmp_path / "cache").rglob(redaction_probes.PROBE_FILE))  # the prepared documents' probes, for a run reusing them

    from click.testing import CliRunner

    from custom_llm.cli import main

    result = CliRunner().invoke(main, ["purge", str(run), "--yes"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert not list(tmp_path.rglob(redaction_probes.PROBE_FILE))  # purge removes both copies with the run
