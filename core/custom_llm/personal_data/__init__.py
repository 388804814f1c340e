"""Personal-data redaction any domain can switch on: detectors with check digits, typed placeholders
consistent within a document, and identifier fields a parser marks (docs/plugins/hooks.md)."""

from custom_llm.personal_data.checks import card_valid, iban_valid, luhn_valid, nir_valid, steuer_id_valid
from custom_llm.personal_data.patterns import KIND_NAMES
from custom_llm.personal_data.redactor import DocumentRedaction, Redactor, placeholder_name

__all__ = [
    "KIND_NAMES",
    "DocumentRedaction",
    "Redactor",
    "card_valid",
    "iban_valid",
    "luhn_valid",
    "nir_valid",
    "placeholder_name",
    "steuer_id_valid",
]
