"""Property-based tests of the automotive plugin's parsers: no input (random bytes, random text, valid
ISO-MME channels, tests, EV5 files and reports cut short, with flipped, inserted or deleted bytes)
makes a reader raise anything but InputError.

Deterministic by default (``custom_llm.testing_properties``: derandomized, no example database);
``HYPOTHESIS_PROFILE=fuzz`` runs ten thousand examples a test instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custom_llm import testing_properties
from custom_llm.testing_properties import REPORT_LINES, allowed, inputs, share, text_pdf, texts, write

scratch = testing_properties.scratch  # the fixture, module-scoped

# copies of core's tests/bad_inputs/automotive/bad/B1/Channel/B1.001 and B1.013
AUTOMOTIVE = Path(__file__).resolve().parent / "automotive_inputs" / "automotive" / "bad"
PDF_SAMPLE = text_pdf(REPORT_LINES)


def _channel_samples() -> list[bytes]:
    one = (AUTOMOTIVE / "B1" / "Channel" / "B1.001").read_bytes()
    two = (AUTOMOTIVE / "B1" / "Channel" / "B1.013").read_bytes()  # an inline time column
    return [one, two]


@given(inputs(*_channel_samples()))
def test_automotive_channel_reader(data):
    from custom_llm_automotive.isomme import read_channel

    channel = allowed(read_channel, Path("test.001"), data)
    if channel is not None:
        import numpy as np

        assert np.all(np.isfinite(channel.values)) and len(channel) > 0
        assert channel.time is not None or channel.explicit_reference


@pytest.fixture(scope="module")
def automotive_test(scratch) -> Path:
    """One generated ISO-MME test (its files are damaged one at a time)."""
    from custom_llm_automotive.generator import generate

    generate(scratch / "iso-source", 1, seed=3, reports=False)
    return scratch / "iso-source" / "T0001"


@share(0.4)
@given(data=st.data())
def test_automotive_iso_mme_test_reader(data, automotive_test, scratch):
    import shutil

    from custom_llm_automotive.isomme import read_test

    folder = scratch / "iso"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(automotive_test, folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    victim = data.draw(st.sampled_from([p for p in files if p.suffix.lower() in (".mme", ".chn", ".001", ".002")]))
    victim.write_bytes(data.draw(inputs(victim.read_bytes()[:6000])))
    test = allowed(read_test, folder / "T0001.mme", None, set(files))
    if test is not None:
        assert all(isinstance(reason, str) and reason for _, reason in test.issues)


@given(texts(b"11HEAD0000H3ACXP", b"M0MBARLEMIUPACXP", b"21NECKUP00E2MOZP"))
def test_automotive_channel_code_decoder(text):
    from custom_llm_automotive.channel_codes import decode

    code = allowed(decode, text)
    if code is not None:
        assert len(code.raw) == 16 and code.describe()


@given(texts(b"m/s2", b"kN", b"in-lbf", b"deg/s", b"g"), st.sampled_from(["AC", "FO", "MO", "DS", "VE", "TI", "AN", "", "XX"]))
def test_automotive_unit_parser(text, dimension):
    from custom_llm_automotive.units import normalise

    found = allowed(normalise, text, dimension)
    if found is not None:
        assert found[1] > 0


@pytest.fixture(scope="module")
def ev5_sample(scratch) -> Path:
    import numpy as np

    from custom_llm_automotive.nhtsa import write_ev5

    time = np.arange(200) * 1e-4
    curves = [
        ({"VEHNO": "1", "OCCLOC": "01", "SENATT": "HDCG", "AXIS": "X", "YUNITS": "G", "XUNITS": "SEC"}, time, 20 * np.sin(time * 300)),
        ({"VEHNO": "1", "SENATT": "VECG", "AXIS": "X", "YUNITS": "G", "XUNITS": "SEC"}, time, -5 * np.sin(time * 100)),
    ]
    return write_ev5(
        scratch / "ev5-source",
        "E9",
        {"TITLE": "Sample", "TSTTYP": "FRONTAL"},
        [{"VEHNO": "1", "YEAR": "2020", "MAKED": "Example", "MODELD": "Sedan", "VEHSPD": "56"}],
        [{"VEHNO": "1", "OCCLOC": "01", "OCCTYP": "H3", "DUMSIZ": "50"}],
        curves,
    )


@share(0.5)
@given(data=st.data())
def test_automotive_ev5_reader(data, ev5_sample, scratch):
    from custom_llm_automotive.nhtsa import parse_ev5, read_ev5

    folder = scratch / "ev5"
    folder.mkdir(exist_ok=True)
    names = sorted(p.name for p in ev5_sample.parent.iterdir())
    victim = data.draw(st.sampled_from(names))
    for name in names:
        content = (ev5_sample.parent / name).read_bytes()
        write(folder, name, data.draw(inputs(content)) if name == victim else content)
    parse_ev5((folder / "E9.ev5").read_bytes().decode("latin-1"))
    allowed(read_ev5, folder / "E9.ev5", {folder / n for n in names})


def _report_samples() -> list[bytes]:
    return [
        b"CRASH TEST REPORT\n\nTest number: T1\nLaboratory: Lab\n\n1. TEST CONDITIONS\nVehicle: Sedan\nImpact speed: 56.0 km/h\n"
        b"\n2. RESULTS\nDriver: HIC 15 412.\n\nOBSERVATIONS\n=====\nNone.\n"
    ]


@given(data=inputs(*_report_samples()))
def test_automotive_text_report_reader(data, scratch):
    from custom_llm_automotive.reports import read_report

    sections = allowed(read_report, write(scratch, "report.txt", data))
    assert sections is None or all(s.text for s in sections)


@share(0.3)
@given(data=inputs(PDF_SAMPLE))
def test_automotive_pdf_report_reader(data, scratch):
    from custom_llm_automotive.reports import read_report

    allowed(read_report, write(scratch, "report.pdf", data))
