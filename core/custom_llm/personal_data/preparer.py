"""The personal-data preparation step any domain can switch on, and the options that switch it.

Every domain has the options ``redact_personal_data`` (default: the domain's
``Domain.redact_personal_data``) and ``redact_kinds`` (default: every kind), set like the domain's
own options (``--option redact_personal_data=true``, ``domain_options:`` in a config file). Values a
parser marked as identifiers are replaced whether or not the switch is on: marking a field is the
parser saying that it names a person.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from custom_llm.errors import ConfigError
from custom_llm.personal_data.patterns import KIND_NAMES
from custom_llm.personal_data.redactor import DocumentRedaction, Redactor
from custom_llm.records import Document, Domain, StageReport, stable_id

SWITCH = "redact_personal_data"
KINDS_OPTION = "redact_kinds"
OFF = "redaction: personal data off (redact_personal_data is false)"

# Top-level metadata values that are codes, not prose: never personal data, and redacting them would
# only risk breaking what examples and metrics match on. (A record's own field of one of these names,
# nested in the metadata, is redacted.)
CODE_KEYS = frozenset(
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


def declared_options(domain: Domain) -> dict[str, Any]:
    """The options a run of ``domain`` accepts: core's personal-data options (with the domain's
    default), then the domain's own (a domain may declare these too, with its own defaults)."""
    return {SWITCH: bool(domain.redact_personal_data), KINDS_OPTION: list(KIND_NAMES), **domain.options}


def check_options(options: Mapping[str, Any]) -> None:
    """Refuse unknown kinds before any file is read."""
    unknown = sorted(set(options.get(KINDS_OPTION, ())) - set(KIND_NAMES))
    if unknown:
        raise ConfigError(f"option {KINDS_OPTION}: unknown kinds {unknown}; known: {', '.join(KIND_NAMES)}.")


def resolve_options(domain: Domain, given: Mapping[str, Any]) -> dict[str, Any]:
    """The options of a run: defaults, the user's values applied and checked (ConfigError on a
    wrong key, type or kind)."""
    from custom_llm.config import resolve_domain_options

    options = resolve_domain_options(declared_options(domain), given, domain.name)
    check_options(options)
    return options


def _redact_value(value: Any, redaction: DocumentRedaction, skip: frozenset[str] = frozenset()) -> Any:
    """``value`` with every string in it redacted (mapping keys too), except the values of ``skip``."""
    if isinstance(value, str):
        return redaction.redact(value)
    if isinstance(value, dict):
        return {(redaction.redact(k) if isinstance(k, str) else k): (v if k in skip else _redact_value(v, redaction)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(v, redaction) for v in value]
    return value


def _group(document: Document, source: str, redaction: DocumentRedaction) -> str:
    """The redacted group, which must still tell groups apart: ``<MRN>`` alone would put every
    patient in one group, and the split needs them apart. A changed group keeps a hash of the
    original (blake2b, 80 bits; it is not keyed, so a short value could be found by trying values)."""
    redacted = source if document.group == document.source else redaction.redact(document.group)
    return redacted if redacted == document.group else f"{redacted}#{stable_id(document.group)}"


def start(options: Mapping[str, Any], report: StageReport) -> Callable[[Document], Document]:
    """The step for one run: text, metadata, source and group of every document; counts per kind."""
    check_options(options)
    on = bool(options.get(SWITCH, False))
    if not on:
        report.count(OFF)
    redactor = Redactor(tuple(options.get(KINDS_OPTION, KIND_NAMES))) if on else None

    def step(document: Document) -> Document:
        if redactor is None and not document.identifiers:
            return document
        counts: Counter = Counter()
        redaction = DocumentRedaction(redactor, document.identifiers, counts)
        text = redaction.redact(document.text)
        metadata = _redact_value(dict(document.metadata), redaction, CODE_KEYS)  # codes at the top level only
        source = redaction.redact(document.source)
        group = _group(document, source, redaction)
        for key in [k for k in counts if k.startswith("identifiers not searched")]:
            report.count(key, counts.pop(key))
        if not counts:
            return document.replace(identifiers={}) if document.identifiers else document
        for kind, n in sorted(counts.items()):
            report.count(f"redacted: {kind.lower()}", n)
        report.count("documents with personal data redacted")
        return document.replace(text=text, metadata=metadata, source=source, group=group, identifiers={})

    return step
