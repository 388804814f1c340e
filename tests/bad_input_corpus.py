"""The bad-input corpus: truncated, malformed and hostile files of every format the domains read.

Small files are committed under ``tests/bad_inputs/<domain>/bad`` next to a few good ones in
``good``; what cannot be committed (files of tens of megabytes, symlinks, FIFOs, names with a
newline or bytes that are not UTF-8, XML nested thousands deep) is written by :func:`build` into a
``generated`` folder. ``tests/bad_inputs/manifest.json`` lists every bad input with its kind and
the reason the ingest report must give (``"kept"``: a hostile but usable file that must be read).

``python tests/bad_input_corpus.py`` prints the counts by domain and kind.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from custom_llm.testing_properties import REPORT_LINES, good_docx, text_pdf

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
MANIFEST = CORPUS / "manifest.json"
DOMAINS = ("text", "codebase", "automotive", "public_sector")
CANARY = "CANARY-OUTSIDE-THE-SOURCE"  # in every file outside the source; must never reach a document
PLUGIN_MODULES = {
    "codebase": "custom_llm_codebase.plugin",
    "automotive": "custom_llm_automotive.plugin",
    "public_sector": "custom_llm_public_sector.plugin",
}


@dataclass(frozen=True)
class Entry:
    """One bad input: its path as the ingest report names it (relative to the source root), what is
    wrong with it, and the start of the reason expected (``kept``: it must be read, not refused)."""

    path: str
    kind: str
    expect: str
    generated: bool = False


def manifest() -> dict[str, list[Entry]]:
    data = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return {domain: [Entry(**row) for row in data[domain]] for domain in DOMAINS}


def counts() -> dict[str, Counter]:
    """Bad inputs per domain and kind; refused and kept counted apart."""
    out: dict[str, Counter] = {}
    for domain, entries in manifest().items():
        out[domain] = Counter(e.kind for e in entries)
    return out


def summary() -> str:
    lines = []
    total = 0
    for domain, entries in manifest().items():
        refused = sum(e.expect != "kept" for e in entries)
        generated = sum(e.generated for e in entries)
        total += len(entries)
        lines.append(
            f"{domain}: {len(entries)} bad inputs ({refused} refused with a reason, {len(entries) - refused} "
            f"hostile but usable and kept; {generated} generated at test time)"
        )
        for kind, n in sorted(Counter(e.kind for e in entries).items()):
            lines.append(f"    {n:3d}  {kind}")
    lines.append(f"total: {total} bad inputs")
    return "\n".join(lines)


# --- building a source folder ----------------------------------------------------------------


def build(domain: str, folder: Path) -> Path:
    """``folder/source`` holding the domain's good files (``good/``), its committed bad files
    (``bad/``) and the generated ones (``generated/``); files the symlinks lead to are written to
    ``folder/outside``. Returns the source root."""
    source = folder / "source"
    outside = folder / "outside"
    for name in ("good", "bad"):
        (source / name).mkdir(parents=True)  # git keeps no empty folder: automotive's good files are all generated
        if (CORPUS / domain / name).is_dir():
            shutil.copytree(CORPUS / domain / name, source / name, symlinks=True, dirs_exist_ok=True)
    (source / "generated").mkdir(parents=True)
    outside.mkdir(parents=True)
    GOOD_EXTRAS.get(domain, lambda _: None)(source / "good")
    for writer in GENERATORS[domain].values():
        writer(source / "generated", outside)
    return source


# Real, distinct text for the files with odd names (copies of one file would be dropped as duplicates).
UNIQUE_SOURCES = ("textwrap", "shlex", "colorsys", "bisect", "fnmatch", "glob", "calendar", "sched", "quopri")


def unique_text(number: int) -> bytes:
    """The source of a standard-library module: real code and prose, different for each ``number``."""
    module = importlib.import_module(UNIQUE_SOURCES[number])
    return Path(module.__file__).read_bytes()


def _common(ext: str) -> dict[str, Callable[[Path, Path], None]]:
    """Odd names, symlinks and a FIFO, with the file type ``ext`` the domain reads."""

    def odd(name: str, number: int) -> Callable[[Path, Path], None]:
        return lambda folder, outside: (folder / name).write_bytes(unique_text(number))

    def bytes_name(folder: Path, outside: Path) -> None:
        with open(os.path.join(os.fsencode(folder), b"bad-\xff-byte" + ext.encode()), "wb") as handle:
            handle.write(unique_text(5))

    def outside_file(folder: Path, outside: Path) -> None:
        target = outside / f"secret{ext}"
        target.write_bytes(unique_text(6).replace(b"\n", f"\n{CANARY}\n".encode(), 1))
        (folder / f"link-to-outside-file{ext}").symlink_to(target)

    def inside(folder: Path, outside: Path) -> None:
        """A symlink to a file inside the source that discovery does not list (a hidden folder), so
        the file is read once, through the link."""
        (folder / ".hidden").mkdir(exist_ok=True)
        (folder / ".hidden" / f"target{ext}").write_bytes(unique_text(8))
        (folder / f"link-inside{ext}").symlink_to(Path(".hidden") / f"target{ext}")

    def outside_folder(folder: Path, outside: Path) -> None:
        target = outside / "folder"
        target.mkdir(exist_ok=True)
        (target / f"inner{ext}").write_bytes(unique_text(7).replace(b"\n", f"\n{CANARY}\n".encode(), 1))
        (folder / "link-to-outside-folder").symlink_to(target, target_is_directory=True)

    return {
        f"name with spaces{ext}": odd(f"name with spaces{ext}", 0),
        f"ünïcödé-名前{ext}": odd(f"ünïcödé-名前{ext}", 1),
        f"-starts-with-dash{ext}": odd(f"-starts-with-dash{ext}", 2),
        f"{'long' * 60}{ext}": odd(f"{'long' * 60}{ext}", 3),
        f"line\\nbreak{ext}": odd(f"line\nbreak{ext}", 4),
        f"bad-\\xff-byte{ext}": bytes_name,
        f"link-to-outside-file{ext}": outside_file,
        "link-to-outside-folder": outside_folder,
        f"link-to-etc-passwd{ext}": lambda folder, outside: (folder / f"link-to-etc-passwd{ext}").symlink_to("/etc/passwd"),
        f"link-loop{ext}": lambda folder, outside: (folder / f"link-loop{ext}").symlink_to(folder / f"link-loop{ext}"),
        f"link-dangling{ext}": lambda folder, outside: (folder / f"link-dangling{ext}").symlink_to(folder / "no-such-file"),
        f"link-inside{ext}": inside,
    }


def _fifo(name: str) -> dict[str, Callable[[Path, Path], None]]:
    return {name: lambda folder, outside: os.mkfifo(folder / name)}


def _write(name: str, data: bytes | Callable[[], bytes]) -> dict[str, Callable[[Path, Path], None]]:
    return {name: lambda folder, outside: (folder / name).write_bytes(data() if callable(data) else data)}


def _words(size: int) -> bytes:
    """``size`` bytes of prose on one single line."""
    sentence = b"the inspector read the whole line without a break and found nothing wrong with it "
    return (sentence * (size // len(sentence) + 1))[:size]


# text ---------------------------------------------------------------------------------------------

TEXT_GENERATED = {
    **_common(".txt"),
    **_fifo("fifo.txt"),
    **_write("enormous-line.txt", lambda: b"x" * 50_000_001),
    **_write("long-line.md", lambda: _words(1_000_000)),
    **_write("deep-nesting.jsonl", lambda: b"[" * 100_000 + b"\n"),
}

# codebase -----------------------------------------------------------------------------------------

CODEBASE_GENERATED = {
    **_common(".py"),
    **_fifo("fifo.py"),
    **_write("too-large.py", lambda: b"x = 1\n" * 170_000),
    **_write("one-line.js", lambda: b"var a=[1,2,3];" * 25_000),
    **_write("deep-nesting.rs", lambda: b"fn a() {\n" * 40_000 + b"}\n" * 40_000),
    **_write("deep-brackets.js", lambda: b"let a =\n" + b"[\n" * 50_000 + b"]\n" * 50_000 + b";\n"),
}

# automotive ---------------------------------------------------------------------------------------


def _iso_test(folder: Path, test_id: str, channels: dict[int, str]) -> tuple[Path, Path]:
    """A test file and channel index naming ``channels`` (number -> code); returns (mme, Channel)."""
    from custom_llm_automotive.isomme import write_header

    (folder / test_id).mkdir()
    (folder / test_id / f"{test_id}.mme").write_text(
        write_header(
            [
                ("Data format edition number", "1.6"),
                ("Laboratory test ref. number", test_id),
                ("Title", "Generated bad input"),
                ("Number of test objects", "1"),
            ]
        ),
        encoding="utf-8",
    )
    index = [("Number of channels", str(len(channels)))] + [(f"Name of channel {n:03d}", c) for n, c in channels.items()]
    channel_folder = folder / test_id / "Channel"
    channel_folder.mkdir()
    (channel_folder / f"{test_id}.chn").write_text(write_header(index), encoding="utf-8")
    return folder / test_id / f"{test_id}.mme", channel_folder


def _good_channel(folder: Path) -> str:
    return (folder.parent / "bad" / "B1" / "Channel" / "B1.001").read_text(encoding="utf-8")


def _enormous_lines_test(folder: Path, outside: Path) -> None:
    """G1: a 2 MB comment line in a usable channel's header, and a 2 MB number in another channel."""
    _, channels = _iso_test(folder, "G1", {1: "11NECKUP00H3MOYP", 2: "11NECKUP00H3MOXP"})
    good = _good_channel(folder)
    (channels / "G1.001").write_text(
        good.replace("Data format edition number", "Comments" + " " * 20 + ":" + "c" * 2_000_000 + "\nData format edition number", 1),
        encoding="utf-8",
    )
    lines = good.replace("11NECKUP00H3MOYP", "11NECKUP00H3MOXP").split("\n")
    lines[-3] = "9" * 2_000_000
    (channels / "G1.002").write_text("\n".join(lines), encoding="utf-8")


def _symlinked_channel_folder(folder: Path, outside: Path) -> None:
    """G2: the test's Channel folder is a symlink to a folder outside the source."""
    from custom_llm_automotive.isomme import write_header

    mme, channels = _iso_test(folder, "G2", {1: "11NECKUP00H3MOYP"})
    target = outside / "G2-channels"
    shutil.move(channels, target)
    (target / "G2.001").write_text(_good_channel(folder).replace("Neck upper moment Z", f"Neck {CANARY}"), encoding="utf-8")
    (target / "G2.chn").write_text(write_header([("Number of channels", "1"), ("Name of channel 001", f"11NECKUP00H3MOYP / {CANARY}")]))
    (mme.parent / "Channel").symlink_to(target, target_is_directory=True)


def _byte_named_test(folder: Path, outside: Path) -> None:
    """A test whose folder and file names hold a byte that is not UTF-8: read, named printably."""
    from custom_llm_automotive.isomme import write_header

    name = b"G3-\xff"
    root = os.path.join(os.fsencode(folder), name)
    os.makedirs(os.path.join(root, b"Channel"))
    with open(os.path.join(root, name + b".mme"), "w", encoding="utf-8") as handle:
        handle.write(write_header([("Title", "A test whose name is not UTF-8"), ("Number of test objects", "1")]))
    with open(os.path.join(root, b"Channel", name + b".chn"), "w", encoding="utf-8") as handle:
        handle.write(write_header([("Number of channels", "1"), ("Name of channel 001", "11NECKUP00H3MOYP")]))
    with open(os.path.join(root, b"Channel", name + b".001"), "w", encoding="utf-8") as handle:
        handle.write(_good_channel(folder))


def _encrypted_pdf() -> bytes:
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _blank_pdf() -> bytes:
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


AUTOMOTIVE_GENERATED = {
    **_common(".txt"),
    **_fifo("fifo.001"),
    **_write("enormous-report.txt", lambda: _words(20_000_001)),
    **_write("encrypted-report.pdf", _encrypted_pdf),
    **_write("scanned-report.pdf", _blank_pdf),
    "G1": _enormous_lines_test,
    "G2": _symlinked_channel_folder,
    "G3-\\xff": _byte_named_test,
}

# public_sector ------------------------------------------------------------------------------------


def _rezip(data: bytes, change: Callable[[str, bytes], bytes]) -> bytes:
    import io

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, change(info.filename, source.read(info)))
    return out.getvalue()


def _zip_bomb_docx() -> bytes:
    """A DOCX whose central directory claims a 4 GB member: refused before anything is unpacked."""
    data = bytearray(good_docx())
    position = data.find(b"PK\x01\x02")
    data[position + 24 : position + 28] = (0xFFFFFFF0).to_bytes(4, "little")  # uncompressed size of the first member
    return bytes(data)


def _dtd_docx() -> bytes:
    def change(name: str, data: bytes) -> bytes:
        if name == "word/document.xml":
            return data.replace(b"?>", b'?>\n<!DOCTYPE w:document SYSTEM "/etc/passwd">', 1)
        return data

    return _rezip(good_docx(), change)


def _ecfr_deep_json() -> bytes:
    return (
        b'<?xml version="1.0"?>\n<DIV5 N="7" TYPE="PART" hierarchy_metadata="' + b"[" * 100_000 + b'">'
        b"<HEAD>PART 7&#x2014;DEEP METADATA</HEAD>"
        b'<DIV8 N="7.1" TYPE="SECTION"><HEAD>&#xA7; 7.1 Scope.</HEAD><P>This section is read although its part\'s '
        b"metadata is nested too deeply to decode.</P></DIV8></DIV5>\n"
    )


PUBLIC_SECTOR_GENERATED = {
    **_common(".txt"),
    **_fifo("fifo.xml"),
    **_write("deep-nesting.xml", lambda: b'<?xml version="1.0"?><DIV5 N="1" TYPE="PART">' + b"<P>" * 5000 + b"x" + b"</P>" * 5000 + b"</DIV5>"),
    **_write(
        "huge-text-node.xml",
        lambda: b'<?xml version="1.0"?><DIV5 N="1" TYPE="PART"><DIV8 N="1.1" TYPE="SECTION"><P>' + _words(11_000_000) + b"</P></DIV8></DIV5>",
    ),
    **_write("deep-json-attribute.xml", _ecfr_deep_json),
    **_write("long-line.txt", lambda: _words(300_000)),
    **_write("zip-bomb.docx", _zip_bomb_docx),
    **_write("doctype.docx", _dtd_docx),
    **_write("truncated.docx", lambda: good_docx()[:4000]),
    **_write("encrypted.pdf", _encrypted_pdf),
    **_write("scanned.pdf", _blank_pdf),
    **_write("truncated.pdf", lambda: text_pdf(REPORT_LINES)[:700]),
}


def _automotive_good(folder: Path) -> None:
    """One generated ISO-MME test with its report (about 300 kB: too large to commit)."""
    from custom_llm_automotive.generator import generate

    generate(folder, 1, seed=11)


def _public_sector_good(folder: Path) -> None:
    (folder / "committee-report.pdf").write_bytes(text_pdf(REPORT_LINES))
    (folder / "memorandum.docx").write_bytes(good_docx())


GOOD_EXTRAS: dict[str, Callable[[Path], None]] = {"automotive": _automotive_good, "public_sector": _public_sector_good}
GENERATORS: dict[str, dict[str, Callable[[Path, Path], None]]] = {
    "text": TEXT_GENERATED,
    "codebase": CODEBASE_GENERATED,
    "automotive": AUTOMOTIVE_GENERATED,
    "public_sector": PUBLIC_SECTOR_GENERATED,
}


if __name__ == "__main__":
    sys.stdout.write(summary() + "\n")
