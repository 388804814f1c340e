"""The ISO-MME reader on the real measured channel and on hand-written edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from custom_llm_automotive import channel_codes
from custom_llm_automotive.isomme import (
    ChannelError,
    decode_text,
    read_channel,
    read_header_file,
    read_index,
    read_test,
    split_header,
)
from custom_llm_automotive.units import UnitError, normalise


def test_real_channel_matches_its_own_header(real_data):
    channel = read_channel(real_data / "Channel" / "test.001")
    assert channel.code.raw == "24NECKUP00P2MOZP"
    assert channel.values.shape == (6000,)
    assert channel.dt == pytest.approx(1e-4)
    assert channel.time[0] == pytest.approx(-0.1)
    assert channel.unit == "Nm"
    # the file states its own extremes: an independent check of parsing and of the time axis
    header = channel.header
    assert channel.values.max() == pytest.approx(header.number("First global maximum value"))
    assert channel.time[np.argmax(channel.values)] == pytest.approx(header.number("Time of maximum value"))
    assert channel.values.min() == pytest.approx(header.number("First global minimum value"))
    assert channel.time[np.argmin(channel.values)] == pytest.approx(header.number("Time of minimum value"))
    assert header.get("Reference channel name") is None  # NOVALUE
    assert header.get("Name of the channel") == "Neck Upper Moment Z, IDN P1.5"


def test_real_channel_code_decodes(real_data):
    code = read_channel(real_data / "Channel" / "test.001").code
    assert (code.test_object, code.position, code.main_location, code.fine_location_1) == ("2", "4", "NECK", "UP")
    assert (code.dummy, code.dimension, code.direction, code.filter_class) == ("P2", "MO", "Z", "P")
    described = code.describe()
    assert described["dummy"] == "P1.5" and described["dimension"] == "moment" and "neck" in described["location"]


def test_real_index_and_index_only_test(real_data):
    entries, header = read_index(real_data / "Channel" / "test.CHN")
    assert len(entries) == 79 == header.number("Number of channels")
    assert entries[0].code == "M0MBARLEMIUPACXP" and entries[-1].code == "24NECKUP00P2MOZP"
    test = read_test(None, real_data / "Channel" / "test.CHN")
    assert len(test.channels) == 1
    assert len(test.issues) == 78 and all("channel file absent" in reason for _, reason in test.issues)
    assert any("differs from the index" in note for note in test.notes)


def test_header_values_with_colons_novalue_empty_tabs_and_repeats():
    lines = [
        "Time of test                :10:32:45",
        "Comments                    :IR-TRACC, calibrated 2026-04-02: drift within tolerance",
        "Movie reference\t\t:NOVALUE",
        "",
        "Regulation                  :",
        "Comments                    :second comment",
        "1.0E+00",
    ]
    header, start = split_header(lines)
    assert start == 6
    assert header.get("time of test") == "10:32:45"
    assert header.get("Movie reference") is None and header.get("Regulation") is None
    assert header.get_all("Comments") == ["IR-TRACC, calibrated 2026-04-02: drift within tolerance", "second comment"]


@pytest.mark.parametrize(
    "encoding,text",
    [
        ("utf-8", "Laboratory name :Crash-Prüfzentrum Köln — Prüfkosten 25.000 €\n"),
        ("cp1252", "Laboratory name :Prüfkosten 25.000 €; Bericht „Nr. 4711“ …\n"),
        ("latin-1", "Laboratory name :Centre d'essais de sécurité, 5 °C\n"),
    ],
)
def test_text_encodings_as_found_in_real_files(tmp_path, encoding, text):
    path = tmp_path / "t.mme"
    path.write_bytes(text.encode(encoding))
    header, found = read_header_file(path)
    assert header.get("Laboratory name") == text.split(":", 1)[1].strip()
    assert found in ("utf-8", "cp1252", "latin-1")


def test_utf8_bom_is_dropped():
    assert decode_text(b"\xef\xbb\xbfName :x") == ("Name :x", "utf-8")


def _channel_file(tmp_path, samples, unit="g", extra=(), count=None, name="x.001"):
    head = [
        "Channel code                :11HEAD0000H3ACXP",
        f"Unit                        :{unit}",
        "Time of first sample        :0",
        "Sampling interval           :0.0001",
        f"Number of samples           :{len(samples) if count is None else count}",
        *extra,
    ]
    path = tmp_path / name
    path.write_text("\n".join(head + [str(s) for s in samples]) + "\n", encoding="utf-8")
    return path


def test_implicit_and_inline_explicit_time_axes(tmp_path):
    channel = read_channel(_channel_file(tmp_path, [1.0, 2.0, 3.0]))
    assert np.allclose(channel.time, [0.0, 1e-4, 2e-4])
    pairs = ["0.000 1.0", "0.001 2.0", "0.002 3.0"]
    inline = read_channel(_channel_file(tmp_path, pairs, name="y.001"))
    assert np.allclose(inline.time, [0.0, 0.001, 0.002]) and inline.dt == pytest.approx(0.001)
    assert np.array_equal(inline.values, [1.0, 2.0, 3.0])


def test_unit_normalisation(tmp_path):
    channel = read_channel(_channel_file(tmp_path, [9.80665, 19.6133], unit="m/s2"))
    assert channel.unit == "g" and np.allclose(channel.values, [1.0, 2.0])
    assert normalise("kN", "FO") == ("N", 1000.0)
    assert normalise("μm", "DS") == ("mm", 0.001) == normalise("µm", "DS")
    assert normalise("G'S", "AC") == ("g", 1.0)
    with pytest.raises(UnitError, match="unknown unit"):
        normalise("furlong", "DS")
    with pytest.raises(UnitError, match="does not measure"):
        normalise("N", "AC")


@pytest.mark.parametrize(
    "samples,count,unit,reason",
    [
        (["1.0", "NOVALUE", "3.0"], None, "g", "NOVALUE sample"),
        (["1.0", "nan", "3.0"], None, "g", "NaN sample"),
        (["1.0", "2.0", "3.0"], 5, "g", "truncated file"),
        (["1.0", "2.0", "3.0"], 2, "g", "sample count mismatch"),
        (["1.0", "2.0", "3.0E"], None, "g", "truncated file"),
        (["1.0", "2.0"], None, "furlong/s", "unknown unit"),
        ([], 0, "g", "no samples"),
    ],
)
def test_bad_channel_files_raise_with_a_reason(tmp_path, samples, count, unit, reason):
    with pytest.raises(ChannelError, match=reason):
        read_channel(_channel_file(tmp_path, samples, unit=unit, count=count))


def test_channel_codes():
    code = channel_codes.decode("11CHST0000H3DSXC")
    assert code.dummy == "H3" and code.cfc == 180 and code.describe()["direction"] == "longitudinal"
    assert channel_codes.decode("M0MBARCG0000ACXP").describe()["test_object"] == "mobile barrier"
    assert channel_codes.role_of("1") == "driver" and channel_codes.role_of("3") == "front passenger"
    with pytest.raises(channel_codes.ChannelCodeError):
        channel_codes.decode("11HEAD")
