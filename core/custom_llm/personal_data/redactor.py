"""Finding and replacing personal data, with placeholders that stay consistent within a document.

A value is replaced by its kind's placeholder (``<EMAIL>``); a second, different value of the same
kind in the same document gets ``<EMAIL_2>``, and every occurrence of a value gets the same one, so
a model still learns "the same address again" without ever seeing an address. Values a parser marked
as identifiers (``Document.identifiers``) are replaced wherever they occur, by a placeholder named
after their field (``<PATIENT_NAME>``). Only counts per kind leave this module, never a value.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from custom_llm.personal_data.patterns import _ANY, KIND_NAMES, KINDS, _merge

Span = tuple[int, int, str]  # start, end, kind name

# Every kind needs a digit (numbers, street numbers, postcodes) or an "@" (emails): text with
# neither is passed over without running a single pattern.
_MAYBE_PERSONAL = re.compile(r"[\d@]")
_MEMO_CHARS = 400
_MEMO_ENTRIES = 100_000
# an identifier shorter than this would replace ordinary words and numbers all over the document
MIN_IDENTIFIER_CHARS = 2


class Redactor:
    """Finds the chosen kinds of personal data in a text.

    Short strings (headings, hierarchy labels repeated in every unit's metadata) are remembered
    with what was found in them, so each is scanned once per run.
    """

    def __init__(self, kinds: Iterable[str] = KIND_NAMES) -> None:
        chosen = set(kinds)
        unknown = sorted(chosen - set(KIND_NAMES))
        if unknown:
            raise ValueError(f"unknown personal-data kinds {unknown}; known: {', '.join(KIND_NAMES)}")
        self.kinds = [kind for kind in KINDS if kind.name in chosen]
        self._memo: dict[str, tuple[Span, ...]] = {}

    def find(self, text: str) -> tuple[Span, ...]:
        """Where personal data is in ``text``: non-overlapping spans in text order."""
        if len(text) > _MEMO_CHARS:
            return self._screened(text)
        found = self._memo.get(text)
        if found is None:
            if len(self._memo) >= _MEMO_ENTRIES:
                self._memo.clear()
            found = self._memo[text] = self._screened(text)
        return found

    def redact(self, text: str, counts: Counter | None = None) -> str:
        """``text`` with its personal data replaced (placeholders numbered within this text only)."""
        return DocumentRedaction(self, counts=counts).redact(text)

    def _screened(self, text: str) -> tuple[Span, ...]:
        if not self.kinds or not _MAYBE_PERSONAL.search(text):
            return ()
        if len(text) <= _MEMO_CHARS and not _ANY.search(text):  # long texts: the triggers themselves screen
            return ()
        return self._find(text)

    def _find(self, text: str) -> tuple[Span, ...]:
        """All kinds are looked for in the original text; where two overlap, the earlier kind in
        ``KINDS`` wins (an IBAN is not also a phone number)."""
        cache: dict = {}
        claimed: list[Span] = []
        for kind in self.kinds:
            if kind.name == "EMAIL" and "@" not in text:
                continue
            for start, end in _merge(kind.find(text, cache)):
                if not _overlaps(start, end, claimed):
                    claimed.append((start, end, kind.name))
        return tuple(sorted(claimed))


def _overlaps(start: int, end: int, claimed: Sequence[Span]) -> bool:
    return any(start < other_end and other_start < end for other_start, other_end, _ in claimed)


def placeholder_name(field: str) -> str:
    """The placeholder kind for an identifier field: ``patient_name`` -> ``PATIENT_NAME``."""
    return re.sub(r"[^0-9A-Za-z]+", "_", field).strip("_").upper() or "IDENTIFIER"


def _loose(value: str) -> str:
    """How values are compared: letters and digits only, case folded (``Jane_Doe`` is ``jane doe``)."""
    return " ".join(re.split(r"[\W_]+", value.casefold())).strip()


def identifier_values(identifiers: Mapping[str, str | Sequence[str]]) -> list[tuple[str, str]]:
    """(kind, value) for every marked value, one value per entry; lists give several values."""
    pairs = []
    for field, values in identifiers.items():
        for value in [values] if isinstance(values, (str, int)) else values:
            pairs.append((placeholder_name(str(field)), str(value)))
    return pairs


class _Identifiers:
    """One pattern finding every marked value, however it is separated (``Jane Doe``, ``JANE_DOE``,
    ``Jane-Doe``), as a whole word (``123`` is not found inside ``91234``)."""

    def __init__(self, identifiers: Mapping[str, str | Sequence[str]], counts: Counter) -> None:
        self.kind_of: dict[str, str] = {}
        for kind, value in identifier_values(identifiers):
            key = _loose(value)
            if len(key.replace(" ", "")) < MIN_IDENTIFIER_CHARS:
                counts["identifiers not searched (shorter than 2 characters)"] += 1
                continue
            self.kind_of.setdefault(key, kind)
        alternatives = [r"[\W_]+".join(re.escape(part) for part in key.split(" ")) for key in sorted(self.kind_of, key=len, reverse=True)]
        self.pattern = re.compile(r"(?<![^\W_])(?:" + "|".join(alternatives) + r")(?![^\W_])", re.I) if alternatives else None

    def find(self, text: str) -> list[Span]:
        if self.pattern is None:
            return []
        return [(m.start(), m.end(), self.kind_of[_loose(m.group())]) for m in self.pattern.finditer(text)]


class DocumentRedaction:
    """Redaction of one document's strings (text, metadata, source) with one placeholder table, so
    a value gets the same placeholder wherever it appears in the document. ``counts`` collects
    replacements per kind name."""

    def __init__(
        self,
        redactor: Redactor | None,
        identifiers: Mapping[str, str | Sequence[str]] | None = None,
        counts: Counter | None = None,
    ) -> None:
        self.redactor = redactor
        self.counts: Counter = counts if counts is not None else Counter()
        self.identifiers = _Identifiers(identifiers or {}, self.counts)
        self._placeholders: dict[tuple[str, str], str] = {}
        self._per_kind: Counter = Counter()

    def redact(self, text: str) -> str:
        spans = self._spans(text)
        if not spans:
            return text
        pieces = []
        last = 0
        for start, end, kind in sorted(spans):
            pieces.append(text[last:start])
            pieces.append(self._placeholder(kind, text[start:end]))
            last = end
            self.counts[kind] += 1
        pieces.append(text[last:])
        return "".join(pieces)

    def _spans(self, text: str) -> list[Span]:
        """Detected spans and marked identifiers: a detected span that holds an identifier wins
        (``jane.doe@example.org`` is one e-mail address), otherwise the identifier does."""
        detected = list(self.redactor.find(text)) if self.redactor is not None else []
        if self.identifiers.pattern is None:  # the common case: nothing marked
            return detected
        marked = [m for m in self.identifiers.find(text) if not any(s <= m[0] and m[1] <= e for s, e, _ in detected)]
        return marked + [d for d in detected if not _overlaps(d[0], d[1], marked)]

    def _placeholder(self, kind: str, value: str) -> str:
        key = (kind, _loose(value) or value)
        if key not in self._placeholders:
            self._per_kind[kind] += 1
            number = self._per_kind[kind]
            self._placeholders[key] = f"<{kind}>" if number == 1 else f"<{kind}_{number}>"
        return self._placeholders[key]
