"""The sample generator: the reader reads back exactly what it wrote, and the pulses are plausible."""

from __future__ import annotations

import numpy as np
import pytest

from custom_llm_automotive.generator import SAMPLE_INTERVAL, generate
from custom_llm_automotive.isomme import read_channel, read_header_file, read_index, read_test


def _as_read(value):
    text = "NOVALUE" if value is None else str(value)
    return None if text.strip() in ("", "NOVALUE") else text.strip()


def test_reader_reads_back_exactly_what_was_written(corpus):
    _, written = corpus
    for test in written:
        header, encoding = read_header_file(test.mme)
        assert [(n, v) for n, v in header.items] == [(n, _as_read(v)) for n, v in test.header]
        entries, _ = read_index(test.index)
        assert [e.code for e in entries] == [c.code for c in test.channels]
        for channel in test.channels:
            read = read_channel(channel.path)
            assert read.code.raw == channel.code
            assert np.array_equal(read.raw_values, channel.values), channel.path
            assert [(n, v) for n, v in read.header.items] == [(n, _as_read(v)) for n, v in channel.header]
        whole = read_test(test.mme)
        assert not whole.issues and whole.test_id == test.test_id
        assert len(whole.channels) == len(test.channels)


def test_corpus_covers_encodings_axes_kinds_and_dummies(corpus):
    _, written = corpus
    assert {t.encoding for t in written} == {"utf-8", "cp1252", "latin-1"}
    assert any(t.explicit_time for t in written) and any(not t.explicit_time for t in written)
    assert {t.kind for t in written} == {"frontal", "side"}
    dummies = {d for t in written for _, d in t.occupants}
    assert {"H3", "HF"} <= dummies and dummies & {"ER", "E2"}
    assert {t.report.suffix for t in written} == {".txt", ".pdf"}


def test_explicit_time_axis_equals_the_implicit_grid(corpus):
    _, written = corpus
    test = next(t for t in written if t.explicit_time)
    read = read_test(test.mme)
    implicit = -0.010 + SAMPLE_INTERVAL * np.arange(1600)
    for channel in read.channels:
        assert np.allclose(channel.time, implicit, atol=1e-12)
        assert channel.dt == pytest.approx(SAMPLE_INTERVAL)


def test_same_seed_same_bytes(tmp_path):
    first = generate(tmp_path / "a", 2, seed=11)
    second = generate(tmp_path / "b", 2, seed=11)
    for one, two in zip(first, second, strict=True):
        assert one.mme.read_bytes() == two.mme.read_bytes()
        for a, b in zip(one.channels, two.channels, strict=True):
            assert a.path.read_bytes() == b.path.read_bytes()
        assert one.report.read_bytes() == two.report.read_bytes()


def test_pulses_are_physically_plausible(ingested, corpus):
    documents, (_, written) = ingested.documents, corpus
    results = [d.metadata["results"] for d in documents if d.metadata["doc_type"] == "test"]
    for test, result in zip(written, results, strict=True):
        assert result["test_id"] == test.test_id
        read = read_test(test.mme)
        vehicle = next(c for c in read.channels if c.code.raw[2:6] == "VEHC" and c.code.direction == ("X" if test.kind == "frontal" else "Y"))
        delta_v = abs(np.trapezoid(vehicle.values, vehicle.time)) * 9.80665 * 3.6  # km/h
        if test.kind == "frontal":
            # rebound makes the velocity change a little larger than the impact speed
            assert 1.0 * result["speed_kmh"] < delta_v < 1.2 * result["speed_kmh"]
            assert 15 < result["vehicle_peak_g"] < 60
        for occupant in result["occupants"]:
            c = occupant["criteria"]
            assert 20 < c["hic15"]["value"] < 3000 and c["hic36"]["value"] >= c["hic15"]["value"]
            assert 15 < c["head_peak"]["value"] < 160
            if "chest_deflection" in c:
                assert 3 < c["chest_deflection"]["value"] < 90
                assert 10 < c["chest_3ms"]["value"] < 90
                assert 0 < c["nij"]["value"] < 3
            if "rib_deflection" in c:
                assert 3 < c["rib_deflection"]["value"] < 80
