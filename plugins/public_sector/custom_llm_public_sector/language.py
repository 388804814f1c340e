"""A small offline language detector: stop-word profiles, no model files, no network.

Legislation is written in full sentences full of function words, so counting the most frequent
words of each language tells them apart reliably from a few dozen words on. It is deterministic
(same text, same answer), which a sampling detector such as langdetect is not without seeding.
"""

from __future__ import annotations

import re
from collections import Counter

_STOP_WORDS: dict[str, str] = {
    "en": "the of and to in a is that for be by shall this with as or on are any such which an not "
    "from at it may under section its have has been other than was were these those all must",
    "fr": "le la les de des du et à en un une est que qui pour dans par sur au aux ne pas ou sont "
    "son sa ses il elle cette ce être article lorsque dont selon peut doit",
    "de": "der die das und in den von zu mit sich des auf für ist im dem nicht ein eine als auch "
    "es an werden aus er hat dass sie nach wird bei oder durch nur wenn sind gemäß absatz",
    "es": "el la de que y en los del se las por un para con no una su al lo como más o pero sus le "
    "ha sobre este esta entre cuando artículo será podrá deberá",
    "it": "il di che e la per un in una sono non del della le dei delle gli al alla è da con si "
    "questo anche come ai nel nella ovvero presente articolo",
    "nl": "de het een van en in is dat op te zijn voor met die niet aan er ook als bij door worden wordt of dit deze naar om uit artikel",
    "pt": "o a de que e do da em um para com não uma os no se na por mais as dos como mas ao ele das à seu sua ou quando pelo pela artigo",
}
_PROFILES = {lang: frozenset(words.split()) for lang, words in _STOP_WORDS.items()}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_ACRONYM = re.compile(r"\b[A-Z]{2,}")
# A word found in several profiles ("de", "in", "die") counts for each of them by 1/n of a hit.
_WEIGHT = {}
for _profile in _PROFILES.values():
    for _word in _profile:
        _WEIGHT[_word] = 1.0 / sum(_word in p for p in _PROFILES.values())

_INDEX: dict[str, tuple[str, ...]] = {word: tuple(lang for lang, profile in _PROFILES.items() if word in profile) for word in _WEIGHT}
SUPPORTED = tuple(sorted(_PROFILES))
ISO_639_2 = {
    "eng": "en",
    "fra": "fr",
    "fre": "fr",
    "deu": "de",
    "ger": "de",
    "spa": "es",
    "ita": "it",
    "nld": "nl",
    "dut": "nl",
    "por": "pt",
    "swe": "sv",
    "dan": "da",
    "pol": "pl",
    "swa": "sw",
}


def detect(text: str, sample_chars: int = 2500, min_hits: int = 3) -> tuple[str, float]:
    """``(language, confidence)``: an ISO 639-1 code or ``"und"`` when too little text to tell.

    Confidence is the winner's share of stop-word hits among all languages.
    """
    # Acronyms and codes ("ER24-1", "EC", "DE 19971") are no evidence of a language.
    sample = _ACRONYM.sub(" ", text[:sample_chars]).lower()
    tokens = Counter(_WORD.findall(sample))
    if not tokens:
        return "und", 0.0
    scores = dict.fromkeys(_PROFILES, 0.0)
    for token in tokens.keys() & _INDEX.keys():
        weight = tokens[token] * _WEIGHT[token]
        for lang in _INDEX[token]:
            scores[lang] += weight
    best = max(scores, key=lambda k: (scores[k], k == "en"))
    total = sum(scores.values())
    if scores[best] < min_hits or total == 0:
        return "und", 0.0
    return best, round(scores[best] / total, 3)


def normalize_code(code: str | None) -> str:
    """``EN``, ``eng``, ``en-US`` -> ``en``; empty -> ''."""
    if not code:
        return ""
    code = code.strip().lower().replace("_", "-").split("-")[0]
    return ISO_639_2.get(code, code if len(code) == 2 else code)


def choose(text: str, declared: str = "") -> tuple[str, str]:
    """The language recorded for a unit and how it was found: detected from the text when the
    text says so clearly, else the language the document declares, else ``und``."""
    detected, confidence = detect(text)
    if detected != "und" and (confidence >= 0.4 or not declared):
        return detected, "detected"
    if declared:
        return normalize_code(declared), "declared"
    return detected, "detected"
