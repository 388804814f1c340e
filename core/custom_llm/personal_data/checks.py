"""Check digits of personal identifiers: a number is redacted without a label next to it only when
its check digit is right, which keeps page, docket and reference numbers out of the net."""

from __future__ import annotations

import re
from collections import Counter

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


def luhn_valid(candidate: str) -> bool:
    """The Luhn (mod 10) check of payment card numbers, on the digits of ``candidate``."""
    digits = [int(ch) for ch in candidate if ch.isdigit()]
    if len(digits) < 2:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


# (prefixes, lengths) of the card schemes: a Luhn-valid number outside them is not taken for a card
# (a tenth of all digit strings pass Luhn by chance).
CARD_SCHEMES: tuple[tuple[tuple[str, ...], tuple[int, ...]], ...] = (
    (("4",), (13, 16, 19)),  # Visa
    (tuple(str(p) for p in range(51, 56)) + tuple(str(p) for p in range(2221, 2721)), (16,)),  # Mastercard
    (("34", "37"), (15,)),  # American Express
    (("6011", "65") + tuple(str(p) for p in range(644, 650)), (16, 19)),  # Discover
    (tuple(str(p) for p in range(3528, 3590)), (16, 19)),  # JCB
    (("36", "38") + tuple(str(p) for p in range(300, 306)), (14,)),  # Diners Club
    (("62",), (16, 17, 18, 19)),  # UnionPay
)


def card_valid(candidate: str) -> bool:
    """A payment card number: a scheme's prefix and length, and the Luhn check."""
    digits = "".join(ch for ch in candidate if ch.isdigit())
    scheme = any(digits.startswith(prefixes) and len(digits) in lengths for prefixes, lengths in CARD_SCHEMES)
    return scheme and luhn_valid(digits)
