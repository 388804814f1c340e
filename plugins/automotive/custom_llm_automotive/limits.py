"""Regulatory injury limits, each with the paragraph it comes from.

Frontal limits are FMVSS No. 208 (49 CFR 571.208, Occupant crash protection); side-impact limits for
the ES-2re are FMVSS No. 214 (49 CFR 571.214, Side impact protection). A criterion without a limit for
a dummy is reported with its value and "no FMVSS limit", never a verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

FMVSS_208 = "49 CFR 571.208"
FMVSS_214 = "49 CFR 571.214"


@dataclass(frozen=True)
class Limit:
    criterion: str
    dummy: str
    value: float
    unit: str
    source: str

    def exceeded_by(self, measured: float) -> bool:
        """Limits are maxima: a value above the limit fails; equal to it passes."""
        return measured > self.value

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _limits(dummy: str, rows: list[tuple[str, float, str, str]]) -> dict[tuple[str, str], Limit]:
    return {(dummy, c): Limit(c, dummy, v, u, s) for c, v, u, s in rows}


LIMITS: dict[tuple[str, str], Limit] = {}
# Hybrid III 50th percentile male: FMVSS 208 S6.
LIMITS.update(
    _limits(
        "H3",
        [
            ("hic15", 700.0, "", f"{FMVSS_208} S6.2(b)"),
            ("hic36", 1000.0, "", f"{FMVSS_208} S6.2(a)"),
            ("chest_3ms", 60.0, "g", f"{FMVSS_208} S6.3"),
            ("chest_deflection", 63.0, "mm", f"{FMVSS_208} S6.4(b)"),
            ("femur_left", 10000.0, "N", f"{FMVSS_208} S6.5"),
            ("femur_right", 10000.0, "N", f"{FMVSS_208} S6.5"),
            ("nij", 1.0, "", f"{FMVSS_208} S6.6(a)"),
            ("neck_tension", 4170.0, "N", f"{FMVSS_208} S6.6(b)"),
            ("neck_compression", 4000.0, "N", f"{FMVSS_208} S6.6(c)"),
        ],
    )
)
# Hybrid III 5th percentile female: FMVSS 208 S15.3.
LIMITS.update(
    _limits(
        "HF",
        [
            ("hic15", 700.0, "", f"{FMVSS_208} S15.3"),
            ("chest_3ms", 60.0, "g", f"{FMVSS_208} S15.3"),
            ("chest_deflection", 52.0, "mm", f"{FMVSS_208} S15.3"),
            ("femur_left", 6805.0, "N", f"{FMVSS_208} S15.3"),
            ("femur_right", 6805.0, "N", f"{FMVSS_208} S15.3"),
            ("nij", 1.0, "", f"{FMVSS_208} S15.3"),
            ("neck_tension", 2620.0, "N", f"{FMVSS_208} S15.3"),
            ("neck_compression", 2520.0, "N", f"{FMVSS_208} S15.3"),
        ],
    )
)
# Hybrid III 6-year-old: FMVSS 208 S23.5.
LIMITS.update(
    _limits(
        "Y7",
        [
            ("hic15", 700.0, "", f"{FMVSS_208} S23.5"),
            ("chest_3ms", 60.0, "g", f"{FMVSS_208} S23.5"),
            ("chest_deflection", 40.0, "mm", f"{FMVSS_208} S23.5"),
            ("nij", 1.0, "", f"{FMVSS_208} S23.5"),
            ("neck_tension", 1490.0, "N", f"{FMVSS_208} S23.5"),
            ("neck_compression", 1820.0, "N", f"{FMVSS_208} S23.5"),
        ],
    )
)
# Hybrid III 3-year-old: FMVSS 208 S21.5.
LIMITS.update(
    _limits(
        "Y6",
        [
            ("hic15", 570.0, "", f"{FMVSS_208} S21.5"),
            ("chest_3ms", 55.0, "g", f"{FMVSS_208} S21.5"),
            ("chest_deflection", 34.0, "mm", f"{FMVSS_208} S21.5"),
            ("nij", 1.0, "", f"{FMVSS_208} S21.5"),
            ("neck_tension", 1130.0, "N", f"{FMVSS_208} S21.5"),
            ("neck_compression", 1380.0, "N", f"{FMVSS_208} S21.5"),
        ],
    )
)
# ES-2re 50th percentile male side-impact dummy: FMVSS 214 S7.2.
for _dummy in ("ER", "E2"):
    LIMITS.update(
        _limits(
            _dummy,
            [
                ("hic36", 1000.0, "", f"{FMVSS_214} S7.2"),
                ("rib_deflection", 44.0, "mm", f"{FMVSS_214} S7.2"),
                ("abdominal_force", 2500.0, "N", f"{FMVSS_214} S7.2"),
                ("pubic_force", 6000.0, "N", f"{FMVSS_214} S7.2"),
            ],
        )
    )


def limit_for(dummy: str | None, criterion: str) -> Limit | None:
    if dummy is None:
        return None
    return LIMITS.get((dummy, criterion))
