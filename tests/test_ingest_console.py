"""What `custom-llm ingest` prints says what it counted: the bar counts documents and its label
says so (a file may give many documents, or none), and files kept with a fallback are listed
apart from the files left out."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from custom_llm import Document, Domain, Example, hookimpl
from custom_llm.cli import main
from custom_llm.data.ingest import ingest_label
from custom_llm.testing import registered_plugin

PARAGRAPH = "the pump {n} keeps the pressure of line {n} steady while the valve opens and closes slowly"


def _ingest(files, report):
    """One document per paragraph; ``*.bin`` left out; ``broken*`` kept as plain text (a fallback)."""
    for path in files:
        if path.suffix == ".bin":
            report.skip(path.name, "unsupported file type: .bin")
            continue
        if path.name.startswith("broken"):
            report.kept_with_fallback(path.name, "parse error: kept as plain text")
        for paragraph in path.read_text().split("\n\n"):
            yield Document(text=paragraph, source=path.name)


class Plugin:
    @hookimpl
    def register_domains(self, register):
        register(
            Domain(
                name="paragraphs",
                description="one document per paragraph",
                discover=lambda source: sorted(p for p in source.iterdir() if p.is_file()),
                ingest=_ingest,
                make_examples=lambda document: [Example(completion=document.text)],
            )
        )


def _source(folder: Path) -> Path:
    folder.mkdir()
    (folder / "three.txt").write_text("\n\n".join(PARAGRAPH.format(n=n) for n in range(3)))
    (folder / "two.txt").write_text("\n\n".join(PARAGRAPH.format(n=n) for n in range(3, 5)))
    (folder / "broken.txt").write_text(PARAGRAPH.format(n=9))
    (folder / "data.bin").write_bytes(b"\x00\x01")
    return folder


def test_the_bar_counts_documents_under_a_label_that_says_documents(tmp_path):
    source = _source(tmp_path / "src")
    arguments = [
        "ingest",
        "--domain",
        "paragraphs",
        "--recipe",
        "scratch",
        "--seq-len",
        "32",
        "--source",
        str(source),
        "--output",
        str(tmp_path / "run"),
    ]
    with registered_plugin(Plugin(), "paragraphs"):
        result = CliRunner().invoke(main, arguments, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    bar = next(line for line in result.output.splitlines() if line.startswith("ingest:"))
    assert bar.startswith("ingest: documents from 4 files")  # 4 files discovered, the .bin among them
    assert re.search(r"\b6/6\b", bar), bar  # 3 + 2 + 1 documents
    assert ingest_label(1) == "ingest: documents from 1 file"

    left_out = result.output.split("left out (1)")[1].split("kept with a fallback")[0]
    assert "data.bin" in left_out and "broken.txt" not in left_out
    kept = result.output.split("kept with a fallback (1)")[1]
    assert "broken.txt" in kept and "parse error: kept as plain text" in kept
    assert re.search(r"files_left_out\s*│\s*1\b", result.output) and re.search(r"files_kept_with_fallback\s*│\s*1\b", result.output)

    saved = json.loads((tmp_path / "run" / "ingest_report.json").read_text())
    assert [i["path"] for i in saved["issues"]] == ["data.bin"]
    assert saved["kept_with_fallback"] == [{"path": "broken.txt", "reason": "parse error: kept as plain text"}]

    with registered_plugin(Plugin(), "paragraphs"):  # from the stage cache: the same two lists
        again = CliRunner().invoke(main, arguments, env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    assert "left out (1)" in again.output and "kept with a fallback (1)" in again.output
