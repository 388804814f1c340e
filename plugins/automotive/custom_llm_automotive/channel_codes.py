"""The 16-character ISO-MME channel code (ISO/TS 13499), decoded into named parts.

Layout: test object (1) + position (1) + main location (4) + fine location 1 (2) + fine location 2 (2)
+ fine location 3 (2, the dummy type on dummy channels) + physical dimension (2) + direction (1)
+ filter class (1). The code lists below are the subset of the ISO/TS 13499 (RED B 1.6.2) tables that
crash reports use; an unknown part is kept and shown as "unknown", never an error, because real files
carry laboratory-specific codes.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from custom_llm import InputError

CODE_LENGTH = 16
_VALID = re.compile(r"[A-Za-z0-9?]{16}")

TEST_OBJECTS = {
    "0": "undefined",
    "1": "vehicle 1",
    "2": "vehicle 2",
    "3": "vehicle 3",
    "4": "vehicle 4",
    "B": "fixed barrier",
    "C": "component",
    "D": "dummy / dummy impactor",
    "H": "linear impactor",
    "M": "mobile barrier",
    "P": "pendulum",
    "S": "sled",
    "T": "test rig",
}
POSITIONS = {
    "0": "undefined",
    "1": "front left",
    "2": "front middle",
    "3": "front right",
    "4": "second row left",
    "5": "second row middle",
    "6": "second row right",
    "7": "third row left",
    "8": "third row middle",
    "9": "third row right",
}
MAIN_LOCATIONS = {
    # dummy
    "HEAD": "head",
    "NECK": "neck",
    "CESP": "cervical spine",
    "SHLD": "shoulder",
    "CLAV": "clavicle",
    "UPAR": "upper arm",
    "SHRI": "shoulder rib",
    "TRRI": "thorax rib",
    "RIBS": "ribs",
    "CHRI": "chest rib",
    "SPIN": "spine",
    "THSP": "thoracic spine",
    "BAPL": "backplate",
    "CHST": "chest",
    "STRN": "sternum",
    "ABRI": "abdominal rib",
    "ABDO": "abdomen",
    "LUSP": "lumbar spine",
    "PELV": "pelvis",
    "ACTB": "acetabulum",
    "ILAC": "iliac",
    "PUBC": "pubic symphysis",
    "SACR": "sacrum",
    "FEMR": "femur",
    "KNEE": "knee",
    "TIBI": "tibia",
    "ANKL": "ankle",
    "FOOT": "foot",
    # vehicle and barrier
    "VEHC": "vehicle",
    "SILL": "sill",
    "APIL": "A-pillar",
    "BPIL": "B-pillar",
    "CPIL": "C-pillar",
    "DOOR": "door",
    "SEAT": "seat",
    "STCO": "steering column",
    "STWH": "steering wheel",
    "ENGN": "engine",
    "FLOR": "floor",
    "TUNL": "tunnel",
    "MBAR": "mobile barrier",
    "BARR": "barrier",
    "WALL": "load wall",
    "TIRS": "time reference",
    "AIRB": "airbag",
    "BELT": "seat belt",
    "BCKL": "buckle",
}
FINE_LOCATIONS = {
    "00": "",
    "UP": "upper",
    "MI": "middle",
    "LO": "lower",
    "LE": "left",
    "RI": "right",
    "FR": "front",
    "RE": "rear",
    "CG": "centre of gravity",
    "IN": "inner",
    "OU": "outer",
    "TP": "top",
    "BO": "bottom",
}
DUMMIES = {
    "H3": "Hybrid III 50th percentile male",
    "HF": "Hybrid III 5th percentile female",
    "HM": "Hybrid III 95th percentile male",
    "Y7": "Hybrid III 6-year-old child",
    "Y6": "Hybrid III 3-year-old child",
    "Y2": "CRABI 12-month-old child",
    "E1": "EuroSID-1",
    "E2": "ES-2",
    "ER": "ES-2re",
    "S2": "SID-IIs",
    "WS": "WorldSID 50th percentile male",
    "WF": "WorldSID 5th percentile female",
    "TH": "THOR 50th percentile male",
    "T3": "THOR with Hybrid III legs",
    "BR": "BioRID II",
    "Q1": "Q1",
    "Q2": "Q1.5",
    "Q3": "Q3",
    "Q6": "Q6",
    "QA": "Q10",
    "P1": "P3/4",
    "P2": "P1.5",
    "P3": "P3",
    "P4": "P6",
    "P5": "P10",
}
DIMENSIONS = {
    "AC": "acceleration",
    "AA": "angular acceleration",
    "AV": "angular velocity",
    "AN": "angle",
    "DS": "displacement",
    "DC": "distance",
    "VE": "velocity",
    "FO": "force",
    "MO": "moment",
    "PR": "pressure",
    "TE": "temperature",
    "TI": "time",
    "EV": "event",
    "EN": "energy",
    "VO": "voltage",
    "00": "other",
}
DIRECTIONS = {
    "X": "longitudinal",
    "Y": "lateral",
    "Z": "vertical",
    "R": "resultant",
    "0": "undefined",
    "1": "longitudinal (non-SAE sign)",
    "2": "lateral (non-SAE sign)",
    "3": "vertical (non-SAE sign)",
}
# filter class -> (description, CFC in Hz or None)
FILTER_CLASSES: dict[str, tuple[str, int | None]] = {
    "0": ("unfiltered", None),
    "A": ("CFC 1000", 1000),
    "B": ("CFC 600", 600),
    "C": ("CFC 180", 180),
    "D": ("CFC 60", 60),
    "E": ("CFC 1000 (ISO 6487:1987)", 1000),
    "F": ("CFC 600 (ISO 6487:1987)", 600),
    "G": ("CFC 180 (ISO 6487:1987)", 180),
    "H": ("CFC 60 (ISO 6487:1987)", 60),
    "L": ("CFC 20", 20),
    "P": ("prefiltered, above CFC 1000", None),
    "Q": ("prefiltered, below CFC 60", None),
    "S": ("special filter", None),
    "V": ("from film analysis", None),
    "X": ("constant channel", None),
}
CFC_TO_CLASS = {1000: "A", 600: "B", 180: "C", 60: "D"}
# Who sits where in a left-hand-drive car: position code -> role used in summaries and questions.
ROLES = {
    "1": "driver",
    "3": "front passenger",
    "2": "front middle occupant",
    "4": "rear left passenger",
    "5": "rear middle passenger",
    "6": "rear right passenger",
}


@dataclass(frozen=True)
class ChannelCode:
    """A decoded channel code; ``raw`` is the code exactly as found in the file."""

    raw: str
    test_object: str
    position: str
    main_location: str
    fine_location_1: str
    fine_location_2: str
    fine_location_3: str
    dimension: str
    direction: str
    filter_class: str

    @property
    def dummy(self) -> str | None:
        """The dummy type code when fine location 3 names a dummy (e.g. ``H3``), else None."""
        return self.fine_location_3 if self.fine_location_3 in DUMMIES else None

    @property
    def cfc(self) -> int | None:
        return FILTER_CLASSES.get(self.filter_class, ("", None))[1]

    def describe(self) -> dict[str, str]:
        """Every part in words, for summaries and the channel table."""
        return {
            "test_object": TEST_OBJECTS.get(self.test_object, f"unknown ({self.test_object})"),
            "position": POSITIONS.get(self.position, f"seat {self.position}"),
            "location": " ".join(
                p
                for p in (
                    MAIN_LOCATIONS.get(self.main_location, f"unknown ({self.main_location})"),
                    FINE_LOCATIONS.get(self.fine_location_1, self.fine_location_1),
                    FINE_LOCATIONS.get(self.fine_location_2, self.fine_location_2),
                )
                if p
            ),
            "dummy": DUMMIES.get(self.fine_location_3, ""),
            "dimension": DIMENSIONS.get(self.dimension, f"unknown ({self.dimension})"),
            "direction": DIRECTIONS.get(self.direction, f"unknown ({self.direction})"),
            "filter": FILTER_CLASSES.get(self.filter_class, (f"unknown ({self.filter_class})", None))[0],
        }

    def with_filter(self, filter_class: str) -> str:
        return self.raw[:15] + filter_class

    def to_json(self) -> dict[str, str]:
        return asdict(self)


class ChannelCodeError(InputError, ValueError):
    """A channel code that is not 16 letters, digits or '?'."""


def decode(code: str) -> ChannelCode:
    """Split a 16-character code into its parts; raises ChannelCodeError when it is malformed."""
    text = code.strip()
    if not _VALID.fullmatch(text):
        raise ChannelCodeError(f"channel code {code!r} is not 16 letters or digits")
    upper = text.upper()
    return ChannelCode(
        raw=text,
        test_object=upper[0],
        position=upper[1],
        main_location=upper[2:6],
        fine_location_1=upper[6:8],
        fine_location_2=upper[8:10],
        fine_location_3=upper[10:12],
        dimension=upper[12:14],
        direction=upper[14],
        filter_class=upper[15],
    )


def encode(
    test_object: str,
    position: str,
    main_location: str,
    fine_1: str = "00",
    fine_2: str = "00",
    fine_3: str = "00",
    dimension: str = "00",
    direction: str = "0",
    filter_class: str = "P",
) -> str:
    """Build a code from its parts (the generator's way of naming channels)."""
    code = f"{test_object}{position}{main_location}{fine_1}{fine_2}{fine_3}{dimension}{direction}{filter_class}"
    decode(code)
    return code


def role_of(position: str) -> str:
    """The occupant role for a seat position code (``1`` is the driver in a left-hand-drive car)."""
    return ROLES.get(position, f"occupant in seat {position}")
