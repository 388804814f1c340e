"""Faults survived: a run killed at any point finishes with `--resume` and ends where an
uninterrupted run ends; a full disk gives a clear error and leaves earlier results intact; files
are written atomically."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from custom_llm.data.storage import write_batches, write_json

FAULT_DRIVER = Path(__file__).with_name("fault_driver.py")
KILL_POINTS = ["ingestion", "tokenization", "base-evaluation", "training", "checkpoint-save", "export", "tuned-evaluation", "report"]


def _run(point: str, output: Path, corpus: Path, cache: Path, *extra: str, **popen: object) -> subprocess.CompletedProcess:
    config = output.parent / "faults.yaml"
    config.write_text("max_steps: 16\neval_steps: 4\npatience: 100\n")
    command = [
        sys.executable,
        str(FAULT_DRIVER),
        point,
        "run",
        "--recipe",
        "scratch",
        "--source",
        str(corpus),
        "--output",
        str(output),
        "--config",
        str(config),
        "--model-size",
        "tiny",
        "--seq-len",
        "64",
        "--batch-size",
        "4",
        "--cache-dir",
        str(cache),
        "--quiet",
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, **popen)


def _partial_files(*folders: Path) -> list[str]:
    """Temporary files left in run directories or in committed cache folders. (An unfinished cache
    folder of a killed run may hold one: it has no DONE marker, so nothing ever reads it.)"""
    found = []
    for folder in folders:
        for path in folder.rglob("*.partial*"):
            stage_folder = next((parent for parent in path.parents if parent.parent == folder), path.parent)
            if folder.name != "cache" or (stage_folder / "DONE").exists():
                found.append(str(path))
    return found


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    import click

    root = tmp_path_factory.mktemp("uninterrupted")
    corpus = root / "corpus"
    corpus.mkdir()
    for path in sorted(Path(click.__file__).parent.glob("*.py")):
        (corpus / f"{path.stem}.txt").write_text(path.read_text())
    finished = _run("none", root / "run", corpus, root / "cache")
    assert finished.returncode == 0, finished.stderr
    return {"corpus": corpus, "report": json.loads((root / "run" / "report.json").read_text())}


@pytest.mark.slow
@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_run_killed_at_any_point_resumes_to_the_same_result(tmp_path, uninterrupted, point):
    output, cache = tmp_path / "run", tmp_path / "cache"
    killed = _run(point, output, uninterrupted["corpus"], cache)
    assert killed.returncode == -signal.SIGKILL, f"the fault at {point} was not reached:\n{killed.stderr[-2000:]}"
    assert not (output / "report.json").exists() or point == "report"
    assert json.loads((output / "run.json").read_text())["status"] == "running"  # what a kill leaves behind

    resumed = _run("none", output, uninterrupted["corpus"], cache, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    report, expected = json.loads((output / "report.json").read_text()), uninterrupted["report"]
    tolerance = 1e-4 if point in ("training", "checkpoint-save") else 1e-6
    assert report["tuned"]["perplexity"]["loss"] == pytest.approx(expected["tuned"]["perplexity"]["loss"], abs=tolerance)
    assert report["base"] == expected["base"]
    assert report["data"] == expected["data"] | {"cached_stages": report["data"]["cached_stages"]}
    assert report["training"]["steps_done"] == 16
    if point in ("training", "checkpoint-save"):  # killed after step 9, or while saving checkpoint-8 (not complete, so not used)
        expected_checkpoint = "checkpoint-8" if point == "training" else "checkpoint-4"
        assert report["training"]["resumed_from"].endswith(expected_checkpoint), report["training"]["resumed_from"]
    assert (output / "README.md").is_file() and (output / "model" / "model.safetensors").is_file()
    assert json.loads((output / "run.json").read_text())["status"] == "complete"
    assert _partial_files(output, cache) == []


def _no_bigger_files_than(limit: int):
    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_file_size


@pytest.mark.slow
def test_a_full_disk_gives_a_clear_error_and_keeps_earlier_results(tmp_path, uninterrupted):
    output, cache = tmp_path / "run", tmp_path / "cache"
    assert _run("none", output, uninterrupted["corpus"], cache).returncode == 0
    before = {name: (output / name).read_bytes() for name in ("report.json", "README.md", "model/model.safetensors")}

    # the same job again, on a disk that takes no file larger than 64 KiB: the checkpoints do not fit
    again = _run("none", output, uninterrupted["corpus"], cache, "--max-steps", "20", preexec_fn=_no_bigger_files_than(64 * 1024))
    assert again.returncode == 1, again.stderr
    assert "Traceback" not in again.stderr
    assert "no space left for" in again.stderr and "--resume" in again.stderr, again.stderr
    assert {name: (output / name).read_bytes() for name in before} == before
    assert json.loads((output / "run.json").read_text())["status"] == "failed"
    assert _partial_files(output, cache) == []
    assert _run("none", output, uninterrupted["corpus"], cache, "--max-steps", "20", "--resume").returncode == 0


def _tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir()
    return (
        os.geteuid() == 0
        and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True).returncode == 0
    )


@pytest.mark.slow
def test_a_really_full_filesystem_is_reported_the_same_way(tmp_path, uninterrupted):
    disk = tmp_path / "disk"
    if not _tmpfs(disk, "1m"):
        pytest.skip("mounting a small tmpfs needs root and the mount capability; the RLIMIT_FSIZE test covers the same path")
    try:
        result = _run("none", disk / "run", uninterrupted["corpus"], tmp_path / "cache")
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "no space left for" in result.stderr, result.stderr
        assert _partial_files(disk) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_json_is_replaced_whole_or_not_at_all(tmp_path):
    path = tmp_path / "manifest.json"
    write_json(path, {"version": 1})
    unprintable = type("Unprintable", (), {"__str__": lambda self: 1 / 0})()
    with pytest.raises(ZeroDivisionError):
        write_json(path, {"version": 2, "bad": unprintable})
    assert json.loads(path.read_text()) == {"version": 1}
    assert _partial_files(tmp_path) == []


def test_an_arrow_file_cut_short_by_an_error_leaves_the_previous_one(tmp_path):
    schema = pa.schema([("x", pa.int64())])
    path = tmp_path / "shard.arrow"
    write_batches(path, schema, [pa.record_batch([pa.array([1, 2])], schema=schema)])

    def failing():
        yield pa.record_batch([pa.array([3])], schema=schema)
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_batches(path, schema, failing())
    with pa.OSFile(str(path), "rb") as source:
        assert pa.ipc.open_stream(source).read_all().column("x").to_pylist() == [1, 2]
    assert _partial_files(tmp_path) == []
