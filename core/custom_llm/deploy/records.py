"""What an export leaves behind: its files with their hashes (:class:`ExportResult`), RUN/exports.json
with every export of the run, and the exports table in the run's manifest and model cards."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custom_llm.deploy.run_model import read_json

RECEIPT = "export.json"


RECORDS = "exports.json"  # RUN/exports.json: every export of the run, kept when a later `eval` rewrites the manifest


CARD_START, CARD_END = "<!-- custom-llm exports -->", "<!-- /custom-llm exports -->"


@dataclass(frozen=True)
class ExportedFile:
    path: str  # relative to the export folder
    bytes: int
    blake2b: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.bytes, "blake2b": self.blake2b}


@dataclass
class ExportResult:
    """One finished export: where it is and what it holds."""

    format: str
    quantization: str
    folder: Path
    files: list[ExportedFile]
    source: str  # "full model" or "LoRA adapter merged into BASE"
    architecture: str
    exported_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gguf(self) -> Path | None:
        found = [self.folder / f.path for f in self.files if f.path.endswith(".gguf")]
        return found[0] if found else None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "quantization": self.quantization,
            "folder": str(self.folder),
            "source": self.source,
            "architecture": self.architecture,
            "exported_at": self.exported_at,
            "files": [f.to_json() for f in self.files],
            **self.extra,
        }


def read_records(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / RECORDS
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text(encoding="utf-8")).get("exports") or [])
    except (OSError, ValueError, AttributeError):
        return []


def record_export(run_dir: Path, result: ExportResult) -> None:
    """Add (or replace, same folder) the export in RUN/exports.json, then show all of them in the manifest and the model card."""
    from custom_llm.data.storage import write_json

    records = [r for r in read_records(run_dir) if r.get("folder") != str(result.folder)]
    records.append(result.to_json())
    write_json(Path(run_dir) / RECORDS, {"exports": records})
    apply_records(run_dir)


def apply_records(run_dir: Path) -> None:
    """Write RUN/exports.json's exports into manifest.json (``exports``) and the model cards
    (RUN/model/README.md, RUN/README.md). Call again after anything rewrites those (``custom-llm eval``)."""
    from custom_llm.data.storage import write_json, write_text

    run_dir = Path(run_dir)
    records = read_records(run_dir)
    manifest_path = run_dir / "manifest.json"
    manifest = read_json(manifest_path) if manifest_path.is_file() else {}
    manifest["exports"] = records
    write_json(manifest_path, manifest)
    section = card_section(records, run_dir)
    for card in (run_dir / "model" / "README.md", run_dir / "README.md"):
        if card.is_file():
            text = card.read_text(encoding="utf-8")
            pattern = re.compile(re.escape(CARD_START) + r".*?" + re.escape(CARD_END) + r"\n?", re.S)
            text = pattern.sub("", text).rstrip("\n") + "\n"
            write_text(card, text + "\n" + section if records else text)


def card_section(records: Sequence[Mapping[str, Any]], run_dir: Path | None = None) -> str:
    """The cards' table of exports: each folder relative to the run (its name when outside), since a
    card travels with the model and a path of this machine means nothing elsewhere."""
    lines = [
        CARD_START,
        "## Exports",
        "",
        "Deployable copies of this model (`custom-llm export`; how to run each: docs/deploy.md).",
        "",
        "| format | quantization | folder | file | bytes | blake2b |",
        "| --- | --- | --- | --- | ---: | --- |",
    ]
    for record in records:
        shown = _shown_folder(record["folder"], run_dir)
        for item in record.get("files", []):
            lines.append(f"| {record['format']} | {record['quantization']} | {shown} | {item['path']} | {item['bytes']:,} | {item['blake2b']} |")
    from custom_llm.deploy.export_cost import card_lines

    return "\n".join([*lines, *card_lines(records), "", CARD_END]) + "\n"


def _shown_folder(folder: str, run_dir: Path | None) -> str:
    path = Path(folder)
    if run_dir is not None:
        try:
            return path.relative_to(Path(run_dir).resolve()).as_posix()
        except ValueError:
            pass
    return path.name
