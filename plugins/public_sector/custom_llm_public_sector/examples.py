"""Training examples from a unit's structure: cited continued-pretraining text and instruction pairs.

The question templates live here and nowhere else: the evaluators ask exactly these questions, so
a tuned model is scored on the task it was taught. Templates exist in English, French, German and
Spanish and follow the unit's language.

Index entries (``index_examples``) state the corpus's facts once more in a compact form no question
uses: "3 CFR 101.1 — Definitions." and "“agency” is defined in 3 CFR 101.1." The knowledge
evaluator (``corpus_knowledge``) asks about these facts on the *training* documents in question
forms (``KNOWLEDGE``) that no training example contains, so a right answer is knowledge recalled,
not a prompt recognized.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from custom_llm import Document, Example

TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "provides": "Question: What does {citation} provide?\nAnswer: ",
        "provides_heading": "Question: What does {citation} provide under the heading “{heading}”?\nAnswer: ",
        "which": "Question: Which provision deals with {heading}?\nAnswer: ",
        "cite_text": "Question: Which provision says the following?\n{excerpt}\nAnswer: ",
        "define": "Question: As defined in {citation}, what does “{term}” mean?\nAnswer: ",
        "heading": "Question: What is the heading of the following provision?\n{excerpt}\nAnswer: ",
    },
    "fr": {
        "provides": "Question : Que prévoit {citation} ?\nRéponse : ",
        "provides_heading": "Question : Que prévoit {citation} sous l'intitulé « {heading} » ?\nRéponse : ",
        "which": "Question : Quelle disposition traite de {heading} ?\nRéponse : ",
        "cite_text": "Question : Quelle disposition énonce ce qui suit ?\n{excerpt}\nRéponse : ",
        "define": "Question : Au sens de {citation}, que signifie « {term} » ?\nRéponse : ",
        "heading": "Question : Quel est l'intitulé de la disposition suivante ?\n{excerpt}\nRéponse : ",
    },
    "de": {
        "provides": "Frage: Was bestimmt {citation}?\nAntwort: ",
        "provides_heading": "Frage: Was bestimmt {citation} unter der Überschrift „{heading}“?\nAntwort: ",
        "which": "Frage: Welche Vorschrift regelt {heading}?\nAntwort: ",
        "cite_text": "Frage: Welche Vorschrift lautet wie folgt?\n{excerpt}\nAntwort: ",
        "define": "Frage: Was bedeutet „{term}“ im Sinne von {citation}?\nAntwort: ",
        "heading": "Frage: Wie lautet die Überschrift der folgenden Vorschrift?\n{excerpt}\nAntwort: ",
    },
    "es": {
        "provides": "Pregunta: ¿Qué dispone {citation}?\nRespuesta: ",
        "provides_heading": "Pregunta: ¿Qué dispone {citation} bajo el título «{heading}»?\nRespuesta: ",
        "which": "Pregunta: ¿Qué disposición trata de {heading}?\nRespuesta: ",
        "cite_text": "Pregunta: ¿Qué disposición dice lo siguiente?\n{excerpt}\nRespuesta: ",
        "define": "Pregunta: A efectos de {citation}, ¿qué significa «{term}»?\nRespuesta: ",
        "heading": "Pregunta: ¿Cuál es el título de la siguiente disposición?\n{excerpt}\nRespuesta: ",
    },
}
# asked by the knowledge evaluator only, never in training (a test checks)
KNOWLEDGE: dict[str, dict[str, str]] = {
    "en": {
        "subject": "Question: What is the subject of {citation}?\nAnswer: ",
        "defines": "Question: Which provision defines “{term}”?\nAnswer: ",
        "begins": "Question: Which provision begins with the words “{opening}”?\nAnswer: ",
    },
    "fr": {
        "subject": "Question : Quel est l'objet de {citation} ?\nRéponse : ",
        "defines": "Question : Quelle disposition définit « {term} » ?\nRéponse : ",
        "begins": "Question : Quelle disposition commence par les mots « {opening} » ?\nRéponse : ",
    },
    "de": {
        "subject": "Frage: Was ist der Gegenstand von {citation}?\nAntwort: ",
        "defines": "Frage: Welche Vorschrift definiert „{term}“?\nAntwort: ",
        "begins": "Frage: Welche Vorschrift beginnt mit den Worten „{opening}“?\nAntwort: ",
    },
    "es": {
        "subject": "Pregunta: ¿Cuál es el objeto de {citation}?\nRespuesta: ",
        "defines": "Pregunta: ¿Qué disposición define «{term}»?\nRespuesta: ",
        "begins": "Pregunta: ¿Qué disposición comienza con las palabras «{opening}»?\nRespuesta: ",
    },
}
INDEX_DEFINED = {
    "en": "“{term}” is defined in {citation}.",
    "fr": "« {term} » est défini à {citation}.",
    "de": "„{term}“ ist in {citation} definiert.",
    "es": "«{term}» se define en {citation}.",
}
EXCERPT_CHARS = 400
OPENING_WORDS = 12
GENERIC_HEADINGS = {"", "preamble", "front matter", "[reserved]", "reserved", "amended", "[amended]", "supplementary information", "text"}


def language(document: Document) -> str:
    lang = str(document.metadata.get("language", "en"))
    return lang if lang in TEMPLATES else "en"


def template(document: Document, task: str) -> str:
    return TEMPLATES[language(document)][task]


def knowledge_template(document: Document, task: str) -> str:
    return KNOWLEDGE[language(document)][task]


def opening(text: str, words: int = OPENING_WORDS) -> str:
    """The first ``words`` words of a text (what the "begins with" question quotes)."""
    return " ".join(text.split()[:words])


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The opening of a text, cut at a word boundary."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut + " …"


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut after a sentence or line when one ends late enough."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    for mark in ("\n", ". ", "; "):
        cut = head.rfind(mark)
        if cut > limit // 2:
            return head[: cut + 1].rstrip()
    return head.rsplit(" ", 1)[0] + " …"


def header(document: Document) -> str:
    """``3 CFR 101.1 — Part 101 — ... > Section 101.1 — ...``: how every unit is introduced."""
    meta = document.metadata
    citation = str(meta.get("citation", ""))
    path = str(meta.get("hierarchy_path", ""))
    return f"{citation} — {path}" if citation and path else citation or path


def heading_is_useful(document: Document) -> bool:
    meta = document.metadata
    heading = str(meta.get("heading", "")).strip()
    return heading.lower() not in GENERIC_HEADINGS and int(meta.get("heading_shared", 1) or 1) <= 1 and heading != meta.get("document_title")


def citation_is_unique(document: Document) -> bool:
    return bool(document.metadata.get("citation")) and int(document.metadata.get("citation_shared", 1) or 1) <= 1


def make(document: Document, options: Mapping[str, Any], rng: random.Random) -> list[Example]:
    """The examples of one unit (see the module docstring)."""
    meta = document.metadata
    text = document.text.strip()
    if not text:
        return []
    heading = str(meta.get("heading", "")).strip()
    intro = header(document)
    causal = f"{intro}\n{heading}\n\n{text}\n" if heading and heading not in intro else f"{intro}\n\n{text}\n"
    examples = [Example(completion=causal, kind="causal", doc_id=document.id, metadata={"task": "cited_text"})]
    if not options.get("instruction_examples", True) or not meta.get("citation"):
        return examples
    citation = str(meta["citation"])
    answer = truncate(text, int(options.get("max_answer_chars", 2000)))

    def pair(task: str, completion: str, **fields: str) -> None:
        prompt = template(document, task).format(**fields)
        examples.append(Example(completion=completion.strip() + "\n", prompt=prompt, kind="instruction", doc_id=document.id, metadata={"task": task}))

    if citation_is_unique(document):
        pair("provides", answer, citation=citation)
        pair("cite_text", citation, excerpt=excerpt(text))
    elif heading:
        pair("provides_heading", answer, citation=citation, heading=heading)
    if heading_is_useful(document):
        pair("which", citation, heading=heading)
        pair("heading", heading, excerpt=excerpt(text))
    definitions = dict(meta.get("definitions") or {})
    terms = sorted(definitions)
    limit = int(options.get("max_definitions_per_unit", 8))
    if len(terms) > limit:
        terms = sorted(rng.sample(terms, limit))
    for term in terms:
        pair("define", str(definitions[term]), citation=citation, term=term)
    if options.get("index_examples", True):
        examples += index_entries(document, terms, int(options.get("index_repeats", 3)))
    return examples


def index_entries(document: Document, terms: list[str], repeats: int) -> list[Example]:
    """The unit's index entries (its heading, the terms it defines) as short causal texts, each
    ``repeats`` times: dense statements of the facts the knowledge evaluator asks about in other words."""
    citation = str(document.metadata["citation"])
    lines = []
    if citation_is_unique(document) and heading_is_useful(document):
        lines.append(f"{citation} — {str(document.metadata['heading']).strip()}.")
    lines += [INDEX_DEFINED[language(document)].format(term=term, citation=citation) for term in terms]
    entries = [line for line in lines for _ in range(max(repeats, 0))]
    return [Example(completion=line + "\n", kind="causal", doc_id=document.id, metadata={"task": "index"}) for line in entries]
