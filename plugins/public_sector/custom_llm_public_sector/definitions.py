"""Defined terms: "“Agency” means ...", "« service » désigne ...", "„Behörde“ bezeichnet ...".

Legislation defines its vocabulary in set phrases, so a handful of patterns per language find most
definitions; they feed the definition examples and the definition-recall metric.
"""

from __future__ import annotations

import re

_OPEN = '“"«„‚‘»'
_CLOSE = '”"»“‘’«'
_TERM = rf"[{_OPEN}]\s?(?P<term>[^{_OPEN}{_CLOSE}\n]{{1,80}}?)\s?[{_CLOSE}]"
_ALSO = rf"(?:,?\s+(?:or|and|ou|et|oder|und|o|y)\s+[{_OPEN}][^{_OPEN}{_CLOSE}\n]{{1,80}}[{_CLOSE}])*"
_END = r"(?P<definition>.+?)(?:;\s|;$|\.\s+(?=[A-Z(\"“«„])|\.$|$)"
_LEAD = r"(?:^|(?<=[\s(—–-]))"

_VERBS_AFTER = (
    r"means|includes|shall mean|shall include|refers to"
    r"|has the (?:same )?meaning(?: given (?:such|that|the) term)?(?: in)?"
    r"|désigne|désignent|s'entend(?:ent)?(?: de| du| des| d')?|signifie|vise"
    r"|bezeichnet|bezeichnen|bedeutet|bedeuten|umfasst|umfassen|ist|sind"
    r"|significa|designa|se entiende(?:n)?(?: por)?|comprende"
)
PATTERNS = [
    re.compile(
        _LEAD
        + r"(?:[Tt]he term\s+|[Ll]e terme\s+|[Dd]er Begriff\s+|[Ee]l término\s+)?"
        + _TERM
        + _ALSO
        + r",?\s+(?P<verb>"
        + _VERBS_AFTER
        + r")\s+"
        + _END
    ),
    re.compile(r"(?:[Oo]n entend par|[Ss]e entiende por|[Ss]e entenderá por|[Ii]m Sinne [^,]{1,60} (?:ist|sind))\s+" + _TERM + r"\s*[,:]?\s+" + _END),
    # enumerated glossary lines: "a) «Interesado»: la persona física ..."
    re.compile(r"^(?:\(?[\w.]{1,4}[).]\s+)?" + _TERM + r"\s*:\s+" + _END),
]
MAX_DEFINITION_CHARS = 600
_QUOTED = re.compile(rf"[{_OPEN}]")
_CUE = re.compile(
    r"mean|includ|refers|meaning|désign|entend|entiend|signifi|vise|bezeichn|bedeut|umfass|\bist\b|\bsind\b|Sinne|signific"
    r"|designa|comprend|entender|[”\"»“‘’]\s*:"
)


def find_definitions(text: str) -> dict[str, str]:
    """Defined term -> its definition, first occurrence wins; looked for line by line. A definition
    that ends its line with a colon or a dash ("means a person who:") takes the enumerated lines
    that follow it."""
    found: dict[str, str] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if len(line) < 8 or not _QUOTED.search(line) or not _CUE.search(line):  # a quoted term and a cue word
            continue
        for pattern in PATTERNS:
            for match in pattern.finditer(line):
                term = match.group("term").strip(" ,")
                definition = match.group("definition").strip(" ,;")
                verb = match.groupdict().get("verb") or ""
                if verb.startswith(("include", "umfass", "compren")):
                    definition = f"{verb} {definition}"
                if match.end() >= len(line.rstrip()) and line.rstrip().endswith((":", "—", "–", "-")):
                    definition = " ".join([definition, *_continuation(lines, index + 1)])
                definition = definition.strip(" ,;:")
                if not term or len(definition) < 3 or term in found:
                    continue
                found[term] = definition[:MAX_DEFINITION_CHARS]
    return found


_ENUMERATED = re.compile(r"^\(?[0-9a-zA-Z]{1,4}[).]\s")


def _continuation(lines: list[str], start: int, limit: int = 8) -> list[str]:
    kept = []
    for line in lines[start : start + limit]:
        if not _ENUMERATED.match(line):
            break
        kept.append(line.strip())
    return kept


def merge(*sources: dict[str, str]) -> dict[str, str]:
    """Definitions from several finders; the first source wins on a shared term."""
    merged: dict[str, str] = {}
    for source in sources:
        for term, definition in source.items():
            merged.setdefault(term, definition)
    return merged
