"""What personal data looks like: one pattern (and check) per kind, and the fast scan that runs them.

Each kind is looked for in the original text; where two overlap, the one listed first in ``KINDS``
wins, so an IBAN, a card number or a tax number is never also counted as a phone number.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from custom_llm.personal_data.checks import IBAN_LENGTHS, card_valid, iban_valid, nir_valid, steuer_id_valid

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

# Payment cards: 13-19 digits, single spaces or hyphens between groups, not part of a longer run;
# card_valid decides (scheme prefix and length, Luhn).
CARD = re.compile(r"(?<![\w+-])(?<!\d[ -])\d(?:[ -]?\d){12,18}(?![\w-]|[ -]\d)")

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = re.compile(r"(?<![\w.])(?:" + _OCTET + r"\.){3}" + _OCTET + r"(?![\w]|\.\d)")
IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
# dotted numbers that are not addresses: versions and numbered provisions
NOT_AN_IP = re.compile(
    r"(?i)(?:\bv|\bversion|\bver\.?|§+|\bsection|\bsec\.|\bpart|\barticle|\bart\.|\bpara(?:graph)?\.?|\brule|\bclause"
    r"|\bchapter|\btable|\bfig(?:ure)?\.?|\bno\.|\bitem|\bstep)\s*$"
)
IP_LABEL = re.compile(r"(?i)\b(?:ip|ipv4|ip address|address|addr|host|server|client|gateway|dns|router|from)\W{0,5}$")

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


def _card(text: str, cache: dict) -> list[tuple[int, int]]:
    return [m.span() for m in _scan(CARD, text, cache) if card_valid(m.group())]


def _ip(text: str, cache: dict) -> list[tuple[int, int]]:
    """IPv4 and IPv6 addresses, except those that identify no one (loopback, unspecified, netmasks).
    A dotted quad after "version", "section", "§" ... is a number, not an address; one of single
    digits only (``1.2.3.4``) needs a label such as "IP" or "host" before it."""
    found = []
    for match in _scan(IPV4, text, cache):
        before = text[max(0, match.start() - 16) : match.start()]
        octets = match.group().split(".")
        if NOT_AN_IP.search(before) or octets[0] in ("0", "127", "255"):
            continue
        if all(len(o) == 1 for o in octets) and not IP_LABEL.search(before):
            continue
        found.append(match.span())
    for match in _scan(IPV6, text, cache):
        candidate = match.group()
        if not any(ch.isdigit() for ch in candidate):
            continue
        if candidate.count(":") < 3 and not any(len(group) >= 3 for group in candidate.split(":")):
            continue
        try:
            address = ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        if not (address.is_loopback or address.is_unspecified):
            found.append(match.span())
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
for _pattern in (IBAN, CARD, NIR, STEUER_ID, SSN, SSN_SPACED, PHONE_LABELLED, *(p for p, _, _ in PHONE_PATTERNS)):
    _trigger(_pattern, _NUMBER, 45, 40)
_trigger(IPV4, r"\.\d{1,3}\.", 20, 20)
_trigger(IPV6, r":[0-9A-Fa-f]{0,4}:", 40, 40)
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
            for p in (EMAIL, NINO, *ADDRESS_PATTERNS, IBAN, CARD, IPV4, IPV6, PHONE_LABELLED, *(q for q, _, _ in PHONE_PATTERNS))
        )
    )
)

KINDS: tuple[Kind, ...] = (
    Kind("EMAIL", lambda text, cache: _spans(EMAIL, text, cache)),
    Kind("IBAN", _iban),
    Kind("CARD", _card),
    Kind("FR_NIR", _checked(NIR, nir_valid, NIR_LABEL)),
    Kind("DE_TAX_ID", _checked(STEUER_ID, steuer_id_valid, STEUER_LABEL)),
    Kind("US_SSN", _ssn),
    Kind("UK_NINO", lambda text, cache: _spans(NINO, text, cache)),
    Kind("IP_ADDRESS", _ip),
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
