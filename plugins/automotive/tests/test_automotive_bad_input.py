"""Bad input is reported per file with its reason; the other files and tests go on."""

from __future__ import annotations

import shutil

import pytest
from automotive_helpers import ingest


@pytest.fixture()
def two_tests(corpus, tmp_path):
    """Copies of two generated implicit-axis tests, to be damaged by each test."""
    _, written = corpus
    chosen = [t for t in written if not t.explicit_time][:2]
    for test in chosen:
        shutil.copytree(test.folder, tmp_path / test.test_id)
    return tmp_path, chosen


def _channel(root, test, number):
    return root / test.test_id / "Channel" / f"{test.test_id}.{number:03d}"


def _rewrite(path, old, new):
    text = path.read_bytes().decode("latin-1")
    assert old in text
    path.write_bytes(text.replace(old, new, 1).encode("latin-1"))


def test_each_damaged_channel_is_reported_and_the_rest_goes_on(plugins, two_tests):
    root, (first, second) = two_tests
    _channel(root, first, 2).unlink()  # missing channel file
    _rewrite(_channel(root, first, 3), "Number of samples           :1600", "Number of samples           :1700")
    _rewrite(_channel(root, first, 4), "Unit                        :", "Unit                        :furlong#")
    lines = _channel(root, first, 5).read_text(encoding="latin-1").split("\n")
    lines[40] = "NOVALUE"
    _channel(root, first, 5).write_text("\n".join(lines), encoding="latin-1")
    lines = _channel(root, first, 6).read_text(encoding="latin-1").split("\n")
    lines[41] = "nan"
    _channel(root, first, 6).write_text("\n".join(lines), encoding="latin-1")
    data = _channel(root, first, 7).read_bytes()
    _channel(root, first, 7).write_bytes(data[: len(data) // 2 - 3])  # truncated mid-file
    index = root / first.test_id / "Channel" / f"{first.test_id}.chn"
    with index.open("a", encoding="latin-1") as handle:
        handle.write("Name of channel 099         :11HEAD0000H3ACXP / a channel that was never written\n")

    result = ingest(plugins, root)
    issues = result.reasons()
    prefix = f"{first.test_id}/Channel/{first.test_id}"
    assert issues[f"{prefix}.002"].startswith("channel file absent")
    assert issues[f"{prefix}.003"].startswith("truncated file: the header declares 1700 samples")
    assert issues[f"{prefix}.004"].startswith("unknown unit: 'furlong#")
    assert issues[f"{prefix}.005"].startswith("NOVALUE sample")
    assert issues[f"{prefix}.006"].startswith("NaN sample")
    assert issues[f"{prefix}.007"].startswith("truncated file")
    assert issues[f"{prefix}.099"].startswith("channel file absent: the index names channel 099")
    tests = [d for d in result.documents if d.metadata["doc_type"] == "test"]
    assert [d.group for d in tests] == [first.test_id, second.test_id]  # both tests still give documents
    assert result.report.counts["skipped: channel file absent"] == 2


def test_a_test_without_usable_channels_or_index(plugins, two_tests):
    root, (first, second) = two_tests
    for path in (root / first.test_id / "Channel").glob(f"{first.test_id}.0*"):
        path.write_text("Channel code :11HEAD0000H3ACXP\nUnit :g\nNumber of samples :2\n1.0\n")
    (root / second.test_id / "Channel" / f"{second.test_id}.chn").unlink()
    result = ingest(plugins, root)
    issues = result.reasons()
    assert issues[f"{first.test_id}/{first.test_id}.mme"].startswith("no usable channel")
    assert issues[f"{second.test_id}/{second.test_id}.mme"].startswith("no channel index")
    stray = [reason for path, reason in issues.items() if path.startswith(f"{second.test_id}/Channel/")]
    assert stray and all(r.startswith("channel file not part of any test") for r in stray)
    assert {d.metadata["doc_type"] for d in result.documents} == {"report_section"}  # the reports still come through


def test_bad_reports_are_reported(plugins, two_tests):
    root, (first, _second) = two_tests
    (root / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not a pdf")
    (root / "binary.txt").write_bytes(b"\x00\x01\x02")
    (root / "empty.txt").write_text("   \n")
    result = ingest(plugins, root)
    issues = result.reasons()
    assert issues["broken.pdf"].startswith("unreadable PDF")
    assert issues["binary.txt"].startswith("binary")
    assert issues["empty.txt"].startswith("empty")
    assert sum(d.metadata["doc_type"] == "test" for d in result.documents) == 2


def test_encrypted_pdf_is_reported(plugins, tmp_path):
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret")
    with (tmp_path / "locked.pdf").open("wb") as handle:
        writer.write(handle)
    result = ingest(plugins, tmp_path)
    assert result.documents == [] and result.report.issues[0].reason.startswith("encrypted PDF")


def test_a_broken_test_file_does_not_stop_the_others(plugins, two_tests):
    root, (first, second) = two_tests
    (root / first.test_id / f"{first.test_id}.mme").write_bytes(b"\xff\xfe\x00garbage without colons\n")
    documents = ingest(plugins, root).documents
    # a test file without usable header lines still has its channel folder: the test is read by its stem
    assert {d.group for d in documents if d.metadata["doc_type"] == "test"} == {first.test_id, second.test_id}


def test_an_unexpected_parser_error_leaves_only_that_test_out(plugins, two_tests, monkeypatch):
    from custom_llm_automotive import isomme

    root, (first, second) = two_tests
    real = isomme.read_test

    def read_test(mme, *args, **kwargs):
        if mme is not None and mme.stem == first.test_id:
            raise RuntimeError("a bug no parser expected")
        return real(mme, *args, **kwargs)

    monkeypatch.setattr(isomme, "read_test", read_test)
    result = ingest(plugins, root)
    name = f"{first.test_id}/{first.test_id}.mme"
    assert result.reasons()[name] == "parser failed: RuntimeError: a bug no parser expected"
    assert result.report.counts["skipped: parser failed"] == 1
    assert any(trace.startswith(name) for trace in result.report.tracebacks)  # kept for the run's log
    assert {d.group for d in result.documents if d.metadata["doc_type"] == "test"} == {second.test_id}
