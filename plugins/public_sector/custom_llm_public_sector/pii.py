"""Personal-data redaction: emails, phone numbers, national identifiers, IBANs, postal addresses.

Each kind is replaced by a typed placeholder (``<EMAIL>``, ``<IBAN>``, ...) so a model still
learns that "an email goes here" without ever seeing one. Identifiers with a check digit (French
NIR, German Steuer-IdNr, IBAN) are redacted when the check digit is right or when a label such as
"NIR" or "Steuer-ID" stands next to them; that keeps page numbers, docket numbers and statute
citations out of the net. Person names are not covered: that needs an NER model, and none is
available offline here (see the docs).

All kinds are looked for in the original text; where two overlap, the one listed first in
``KINDS`` wins, so an IBAN, a NIR or a tax number is never also counted as a phone number.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# --- check digits --------------------------------------------------------------------------------

IBAN_LENGTHS = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BR": 29,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "ES": 24,
    "FI": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NL": 18,
    "NO": 15,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "SA": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VG": 24,
    "XK": 20,
}


def iban_valid(candidate: str) -> bool:
    """ISO 13616 mod-97 check (and the country's length when known)."""
    value = re.sub(r"\s", "", candidate).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", value):
        return False
    expected = IBAN_LENGTHS.get(value[:2])
    if expected is not None and len(value) != expected:
        return False
    rearranged = value[4:] + value[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def nir_valid(candidate: str) -> bool:
    """French NIR (numéro de sécurité sociale): key = 97 - (first 13 digits mod 97); Corsica 2A/2B."""
    value = re.sub(r"[\s.]", "", candidate).upper()
    if len(value) != 15:
        return False
    body, key = value[:13], value[13:]
    body = body.replace("2A", "19").replace("2B", "18")
    if not (body.isdigit() and key.isdigit()):
        return False
    return 97 - int(body) % 97 == int(key)


def steuer_id_valid(candidate: str) -> bool:
    """German Steuer-IdNr: 11 digits, no leading zero, one digit repeated in the first ten, and
    the ISO 7064 MOD 11,10 check digit."""
    value = re.sub(r"[\s/.]", "", candidate)
    if len(value) != 11 or not value.isdigit() or value[0] == "0":
        return False
    counts = Counter(value[:10])
    if not (len(counts) in (8, 9) and max(counts.values()) in (2, 3)):
        return False
    product = 10
    for ch in value[:10]:
        total = (int(ch) + product) % 10 or 10
        product = (total * 2) % 11
    check = (11 - product) % 10
    return check == int(value[10])


# --- patterns ------------------------------------------------------------------------------------

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b")

IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}\b")

NIR = re.compile(
    r"(?<![\d])[12][ .]?\d{2}[ .]?(?:0[1-9]|1[0-2]|[2-9]\d)[ .]?(?:\d{2}|2[ABab])[ .]?\d{3}[ .]?\d{3}"
    r"(?:[ .]?\d{2})(?!\d)"
)
NIR_LABEL = re.compile(r"(?:NIR|INSEE|s[ée]curit[ée] sociale|n° ss|num[ée]ro ss)\W{0,20}$", re.I)

STEUER_ID = re.compile(r"(?<![\d])[1-9]\d[ ./]?\d{3}[ ./]?\d{3}[ ./]?\d{3}(?![\d])")
STEUER_LABEL = re.compile(r"(?:Steuer-?ID(?:Nr)?|Steuer-?Identifikationsnummer|Identifikationsnummer|IdNr)\.?\W{0,20}$", re.I)

SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
SSN_SPACED = re.compile(r"(?i)\b(?:SSN|social security (?:number|no\.?))\W{0,5}(\d{3} \d{2} \d{4})\b")

NINO = re.compile(r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")

# (pattern, fewest digits, most digits): national plans have fixed lengths, which keeps
# reference numbers and account fragments out.
PHONE_PATTERNS = [
    # international: +33 1 23 45 67 89, +49 (0)30 1234567, +1-202-555-0143, +44 20 7946 0958
    (re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(0\))?(?:[ .-]?\(?\d{1,5}\)?){2,6}(?![\w])"), 8, 15),
    # North American: (202) 555-0143, 202-555-0143, 202.555.0143, 1-800-555-0199
    (re.compile(r"(?<![\w-])(?:1[ .-])?(?:\(\d{3}\)[ ]?|\d{3}[.-])\d{3}[.-]\d{4}(?![\w-])"), 10, 11),
    # French national: 01 23 45 67 89, 06.12.34.56.78
    (re.compile(r"(?<![\w.-])0[1-9](?:[ .-]\d{2}){4}(?![\w-])"), 10, 10),
    # UK national: 020 7946 0958, 0161 496 0000, 07700 900123
    (re.compile(r"(?<![\w.-])0\d{2,4} \d{3,4} ?\d{3,4}(?![\w-])"), 10, 11),
    # German national: 030 1234567, 030/1234567 (with a hyphen it would catch OMB numbers such as 0938-1234)
    (re.compile(r"(?<![\w./-])0\d{2,4}(?: |/| / )\d{5,8}(?![\w./-])"), 8, 12),
]
PHONE_LABELLED = re.compile(
    r"(?i)\b(?:tel|t[ée]l[ée]phone|telefon|tel[ée]fono|phone|fax|mobile?|handy|portable|m[óo]vil)\.?\s*(?:no\.?|nr\.?|n°)?\s*:?\s*"
    r"(\+?\(?\d[\d ()./-]{5,18}\d)"
)

_US_STREET = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Drive|Dr|Lane|Ln|Court|Ct|Place|Pl|Way|Terrace|Ter|Parkway|Pkwy"
    r"|Circle|Cir|Highway|Hwy|Square|Sq|Trail|Plaza|Close|Crescent|Gardens|Grove|Mews|Row|Hill)"
)
_DIRECTION = r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West|Northeast|Northwest|Southeast|Southwest)"
_FR_LINK = r"(?:(?:de la|de l'|du|des|de|d'|la|le|les|l'|et|aux) ?)"
ADDRESS_PATTERNS = [
    # US / UK: 1600 Pennsylvania Avenue NW, Washington, DC 20500; 10 Downing Street, London SW1A 2AA
    re.compile(
        r"\b\d{1,6}[A-Za-z]?,? (?:" + _DIRECTION + r"\.? )?(?:[A-Z0-9][\w'.-]*[ ]){1,4}" + _US_STREET + r"\b\.?(?: " + _DIRECTION + r"\b\.?)?"
        r"(?:,? (?:Suite|Ste\.?|Apt\.?|Apartment|Unit|Room|Rm\.?|Floor|Flat|#) ?[\w-]+)?"
        r"(?:,? [A-Z][A-Za-z .'-]{1,30},? (?:[A-Z]{2} \d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}))?"
    ),
    # UK: a postcode after a town: London SW1A 2AA
    re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? \d[ABD-HJLNP-UW-Z]{2}\b"),
    # French: 12 bis rue de la Paix, 75002 Paris; 5, avenue Victor Hugo
    re.compile(
        r"\b\d{1,4}(?: ?(?:bis|ter|quater))?,? (?i:rue|avenue|av\.|boulevard|bd|place|all[ée]e|impasse|chemin|quai"
        r"|route|cours|square|passage|faubourg) " + _FR_LINK + r"?[A-ZÉÈÀÂÎÔ0-9][\w'’-]*"
        r"(?: " + _FR_LINK + r"?[A-ZÉÈÀÂÎÔ][\w'’-]*){0,4}"
        r"(?:,? \d{5} [A-ZÉÈ][\w'’-]*(?:[ -][A-ZÉÈ][\w'’-]*)*)?"
    ),
    # German: Musterstraße 12a, 10115 Berlin; Am Markt 3
    re.compile(
        r"\b[A-ZÄÖÜ][\wäöüß-]*(?:straße|strasse|str\.|weg|platz|allee|gasse|ring|damm|ufer|chaussee)"
        r" \d{1,4}(?: ?[a-z])?\b(?:,? \d{5} [A-ZÄÖÜ][\wäöüß-]+)?"
    ),
    # Spanish: Calle Mayor 5, 28013 Madrid; C/ Alcalá, 45
    re.compile(
        r"(?:\bCalle|\bC/|\bAvenida|\bAvda\.|\bPlaza|\bPaseo|\bCamino|\bRonda) [^\n,;]{2,50}?,? "
        r"(?:n[º°o]\.? ?)?\d{1,4}\b"
        r"(?:,? \d{5} [A-ZÁÉÍÓÚ][\wáéíóúñ-]+)?"
    ),
]

# A few characters before a match is enough to see its label ("NIR :", "Steuer-ID").
_LOOKBEHIND = 40


@dataclass(frozen=True)
class Kind:
    """One kind of personal data: its placeholder and how to find it."""

    name: str
    find: Callable[[str, dict], list[tuple[int, int]]]

    @property
    def placeholder(self) -> str:
        return f"<{self.name}>"


# --- fast scanning ---------------------------------------------------------------------------------
# Python's regex engine is slow to try a pattern that opens with a look-behind or an optional group
# at every position of a long text. Each pattern therefore has a trigger: a simple pattern that any
# real match must contain and that the engine scans for quickly; the full pattern then runs only in
# a window around each trigger (with the whole text around it, so look-behinds see the real context).

_NUMBER = re.compile(r"\d[\d ()./-]{5,}\d")  # every phone number and numeric identifier has such a run
_STREET_WORDS = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Drive|Dr|Lane|Ln|Court|Ct|Place|Pl|Way|Terrace|Ter|Parkway"
    r"|Pkwy|Circle|Cir|Highway|Hwy|Square|Sq|Trail|Plaza|Close|Crescent|Gardens|Grove|Mews|Row|Hill)\b"
)
TRIGGERS: dict[re.Pattern[str], tuple[re.Pattern[str], int, int]] = {}


def _trigger(pattern: re.Pattern[str], trigger: re.Pattern[str] | str, before: int, after: int) -> None:
    TRIGGERS[pattern] = (re.compile(trigger) if isinstance(trigger, str) else trigger, before, after)


def _windows(text: str, trigger: re.Pattern[str], before: int, after: int) -> list[tuple[int, int]]:
    windows: list[tuple[int, int]] = []
    for match in trigger.finditer(text):
        start, end = max(0, match.start() - before), min(len(text), match.end() + after)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(end, windows[-1][1]))
        else:
            windows.append((start, end))
    return windows


def _scan(pattern: re.Pattern[str], text: str, cache: dict) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)``, run only around the pattern's trigger when it has one. ``cache``
    keeps each trigger's windows for this text (several patterns share a trigger)."""
    trigger = TRIGGERS.get(pattern)
    if trigger is None:
        yield from pattern.finditer(text)
        return
    if trigger not in cache:
        cache[trigger] = _windows(text, *trigger)
    for start, end in cache[trigger]:
        yield from pattern.finditer(text, start, end)


def _spans(pattern: re.Pattern[str], text: str, cache: dict, group: int = 0) -> list[tuple[int, int]]:
    return [m.span(group) for m in _scan(pattern, text, cache)]


def _checked(pattern: re.Pattern[str], valid: Callable[[str], bool], label: re.Pattern[str] | None = None):
    def find(text: str, cache: dict) -> list[tuple[int, int]]:
        found = []
        for match in _scan(pattern, text, cache):
            before = text[max(0, match.start() - _LOOKBEHIND) : match.start()]
            if valid(match.group()) or (label is not None and label.search(before)):
                found.append(match.span())
        return found

    return find


def _iban(text: str, cache: dict) -> list[tuple[int, int]]:
    """IBAN candidates are greedy (a following capitalized word may stick to them): try the
    country's length first, then shorter groupings."""
    found = []
    for match in _scan(IBAN, text, cache):
        raw = match.group()
        expected = IBAN_LENGTHS.get(raw[:2])
        end = None
        compact = 0
        cut_points = []
        for i, ch in enumerate(raw):
            if ch != " ":
                compact += 1
                cut_points.append((compact, i + 1))
        for length, cut in sorted(cut_points, reverse=True):
            if expected is not None and length != expected:
                continue
            if length >= 15 and iban_valid(raw[:cut]):
                end = cut
                break
        if end is not None:
            found.append((match.start(), match.start() + end))
    return found


def _ssn(text: str, cache: dict) -> list[tuple[int, int]]:
    return _spans(SSN, text, cache) + _spans(SSN_SPACED, text, cache, 1)


def _phone(text: str, cache: dict) -> list[tuple[int, int]]:
    spans = [m.span(1) for m in _scan(PHONE_LABELLED, text, cache)]
    for pattern, fewest, most in PHONE_PATTERNS:
        for match in _scan(pattern, text, cache):
            digits = sum(ch.isdigit() for ch in match.group())
            if fewest <= digits <= most:
                spans.append(match.span())
    return spans


_YEAR_CONTEXT = re.compile(r"(?i)\b(?:the|in|of|since|by|until|during|fiscal|year|fy|before|after)\s+$")


def _address(text: str, cache: dict) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for pattern in ADDRESS_PATTERNS:
        for match in _scan(pattern, text, cache):
            number = re.match(r"\d+", match.group())
            year_like = number is not None and len(number.group()) == 4 and number.group()[:2] in {"18", "19", "20"}
            if year_like and _YEAR_CONTEXT.search(text[max(0, match.start() - 12) : match.start()]):
                continue  # "the 2010 Supreme Court decision" is a year, not a street number
            spans.append(match.span())
    return spans


_trigger(EMAIL, "@", 70, 260)
for _pattern in (IBAN, NIR, STEUER_ID, SSN, SSN_SPACED, PHONE_LABELLED, *(p for p, _, _ in PHONE_PATTERNS)):
    _trigger(_pattern, _NUMBER, 45, 40)
_trigger(NINO, r"\d\d ?\d\d ?\d\d ?[A-D]", 8, 4)
_trigger(ADDRESS_PATTERNS[0], _STREET_WORDS, 140, 90)
_trigger(ADDRESS_PATTERNS[1], r" \d[ABD-HJLNP-UW-Z]{2}\b", 8, 4)
_trigger(
    ADDRESS_PATTERNS[2],
    r"\d,? (?:bis |ter |quater )?(?:[Rr]ue|RUE|[Aa]venue|[Aa]v\.|[Bb]oulevard|[Bb]d|[Pp]lace"
    r"|[Aa]ll[ée]e|[Ii]mpasse|[Cc]hemin|[Qq]uai|[Rr]oute|[Cc]ours|[Ss]quare|[Pp]assage|[Ff]aubourg) ",
    20,
    140,
)
_trigger(ADDRESS_PATTERNS[3], r"(?:straße|strasse|str\.|weg|platz|allee|gasse|ring|damm|ufer|chaussee) \d", 70, 50)
_trigger(ADDRESS_PATTERNS[4], r"(?:Calle|C/|Avenida|Avda\.|Plaza|Paseo|Camino|Ronda) ", 4, 100)

# One scan for "could anything be here at all": the union of every trigger (and the patterns
# without one). Most headings and labels stop here.
_ANY = re.compile(
    "|".join(
        dict.fromkeys(
            f"(?:{(TRIGGERS[p][0] if p in TRIGGERS else p).pattern})"
            for p in (EMAIL, NINO, *ADDRESS_PATTERNS, IBAN, PHONE_LABELLED, *(q for q, _, _ in PHONE_PATTERNS))
        )
    )
)

KINDS: tuple[Kind, ...] = (
    Kind("EMAIL", lambda text, cache: _spans(EMAIL, text, cache)),
    Kind("IBAN", _iban),
    Kind("FR_NIR", _checked(NIR, nir_valid, NIR_LABEL)),
    Kind("DE_TAX_ID", _checked(STEUER_ID, steuer_id_valid, STEUER_LABEL)),
    Kind("US_SSN", _ssn),
    Kind("UK_NINO", lambda text, cache: _spans(NINO, text, cache)),
    Kind("PHONE", _phone),
    Kind("ADDRESS", _address),
)
KIND_NAMES = tuple(kind.name for kind in KINDS)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


# Every kind needs a digit (numbers, street numbers, postcodes) or an "@" (emails): text with
# neither is passed over without running a single pattern.
_MAYBE_PERSONAL = re.compile(r"[\d@]")
_MEMO_CHARS = 400
_MEMO_ENTRIES = 100_000


class Redactor:
    """Applies the chosen kinds in order and counts replacements per kind (never the values).

    Short strings (headings, hierarchy labels repeated in every unit's metadata) are remembered
    with their counts, so each is scanned once per run.
    """

    def __init__(self, kinds: tuple[str, ...] | list[str] = KIND_NAMES) -> None:
        unknown = sorted(set(kinds) - set(KIND_NAMES))
        if unknown:
            raise ValueError(f"unknown personal-data kinds {unknown}; known: {', '.join(KIND_NAMES)}")
        self.kinds = [kind for kind in KINDS if kind.name in set(kinds)]
        self._memo: dict[str, tuple[str, Counter]] = {}

    def redact(self, text: str, counts: Counter | None = None) -> str:
        if len(text) > _MEMO_CHARS:
            return self._screened(text, counts)
        remembered = self._memo.get(text)
        if remembered is None:
            found: Counter = Counter()
            if len(self._memo) >= _MEMO_ENTRIES:
                self._memo.clear()
            remembered = self._memo[text] = (self._screened(text, found), found)
        result, found = remembered
        if counts is not None and found:
            counts.update(found)
        return result

    def _screened(self, text: str, counts: Counter | None) -> str:
        if not _MAYBE_PERSONAL.search(text):
            return text
        if len(text) <= _MEMO_CHARS and not _ANY.search(text):  # long texts: the triggers themselves screen
            return text
        return self._redact(text, counts)

    def _redact(self, text: str, counts: Counter | None = None) -> str:
        """All kinds are looked for in the original text; where two overlap, the earlier kind in
        ``KINDS`` wins (an IBAN is not also a phone number)."""
        cache: dict = {}
        claimed: list[tuple[int, int, Kind]] = []
        for kind in self.kinds:
            if kind.name == "EMAIL" and "@" not in text:
                continue
            for start, end in _merge(kind.find(text, cache)):
                if not any(start < other_end and other_start < end for other_start, other_end, _ in claimed):
                    claimed.append((start, end, kind))
        if not claimed:
            return text
        pieces = []
        last = 0
        for start, end, kind in sorted(claimed, key=lambda c: c[0]):
            pieces.append(text[last:start])
            pieces.append(kind.placeholder)
            last = end
            if counts is not None:
                counts[kind.name] += 1
        pieces.append(text[last:])
        return "".join(pieces)


# --- the preparation step --------------------------------------------------------------------------

# Metadata values that are codes, not prose: never personal data, and redacting them would only
# risk breaking what examples and metrics match on.
_CODE_KEYS = frozenset(
    {
        "format",
        "language",
        "language_source",
        "declared_language",
        "kind",
        "akn_version",
        "eId",
        "identifier",
        "node",
        "document_type",
        "citation_shared",
        "heading_shared",
    }
)


def _redact_value(value: Any, redactor: Redactor, counts: Counter) -> Any:
    if isinstance(value, str):
        return redactor.redact(value, counts)
    if isinstance(value, dict):
        return {
            redactor.redact(k, counts) if isinstance(k, str) else k: (v if k in _CODE_KEYS else _redact_value(v, redactor, counts))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_redact_value(v, redactor, counts) for v in value]
    return value


def start(options: Mapping[str, Any], report: Any) -> Callable[[Any], Any]:
    """The redaction step for one run: text and metadata of every document, counts per kind."""
    if not options.get("redact_personal_data", True):
        report.count("redaction: off (redact_personal_data is false)")
        return lambda document: document
    redactor = Redactor(tuple(options.get("redact_kinds", KIND_NAMES)))

    def step(document: Any) -> Any:
        counts: Counter = Counter()
        text = redactor.redact(document.text, counts)
        metadata = _redact_value(dict(document.metadata), redactor, counts)
        if not counts:
            return document
        for kind, n in sorted(counts.items()):
            report.count(f"redacted: {kind.lower()}", n)
        report.count("documents with personal data redacted")
        return document.replace(text=text, metadata=metadata)

    return step
