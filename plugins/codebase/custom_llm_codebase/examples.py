"""Training examples from one prepared file: causal text with a header, syntax units with their
context, and fill-in-the-middle sequences."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from custom_llm import ConfigError, Document, Example
from custom_llm_codebase.fim import fim_tokens, format_fim, random_span, syntax_span
from custom_llm_codebase.languages import header, is_parsed
from custom_llm_codebase.units import BRACE_LANGUAGES, extract, units_text_valid


def units_of(document: Document) -> list[dict[str, Any]]:
    """The document's units, re-derived when they were not computed from this very text."""
    language = str(document.metadata.get("language", "text"))
    if not is_parsed(language):
        return []
    if units_text_valid(document.metadata, document.text) and "units" in document.metadata:
        return list(document.metadata["units"])
    return extract(document.text, language).units


TRAINING_EXAMPLES = ("all", "files", "tasks")
"""Values of the ``training_examples`` option: everything (the default), the files alone (continued
pretraining), or the tasks alone (line answers and FIM), so a run can build on another with ``--from``."""


def training_examples(options: Mapping[str, Any]) -> str:
    """The ``training_examples`` option's value; ConfigError naming the allowed values otherwise."""
    value = options.get("training_examples", "all")
    if value not in TRAINING_EXAMPLES:
        raise ConfigError(f"codebase option training_examples must be one of {', '.join(TRAINING_EXAMPLES)}, not {value!r}.")
    return str(value)


def make_examples(document: Document, options: Mapping[str, Any], rng: Any, tokenizer: Any, seq_len: int = 256) -> list[Example]:
    """The examples ``training_examples`` asks for (``seq_len`` sizes the line answers' context)."""
    chosen = training_examples(options)
    if chosen == "files":
        return file_examples(document, units_of(document), options)
    if chosen == "tasks":
        return task_examples(document, options, rng, tokenizer, seq_len)
    units = units_of(document)
    examples = file_examples(document, units, options)
    if len(document.text) >= 2 and rng.random() < float(options.get("fim_rate", 0.5)) and fim_allowed(document, tokenizer):
        examples.append(fim_example(document, units, options, rng, tokenizer))
    return examples


def file_examples(document: Document, units: list[dict[str, Any]], options: Mapping[str, Any]) -> list[Example]:
    """The whole file with its header, then its syntax units with their context (no rng used)."""
    language = str(document.metadata.get("language", "text"))
    path = document.source
    examples = [Example(completion=header(path, language) + document.text, kind="causal", doc_id=document.id, metadata={"language": language})]
    if options.get("include_units", True) and units:
        for text in unit_chunks(
            document.text, path, language, units, int(options.get("max_unit_chars", 4000)), document.metadata.get("imports") or []
        ):
            examples.append(Example(completion=text, kind="unit", doc_id=document.id, metadata={"language": language}))
    return examples


def task_examples(document: Document, options: Mapping[str, Any], rng: Any, tokenizer: Any, seq_len: int) -> list[Example]:
    """The task stage: the line answers (prompt masked, the line the target) and one whole-file FIM
    sequence for every file that can have one (not at ``fim_rate``); no whole-file causal text."""
    from custom_llm_codebase.answers import answer_examples

    examples = answer_examples(document, options, rng, tokenizer, seq_len)
    if fim_allowed(document, tokenizer):
        examples.append(fim_example(document, units_of(document), options, rng, tokenizer))
    return examples


def fim_allowed(document: Document, tokenizer: Any) -> bool:
    """A file of two characters or more that spells out no sentinel (a FIM implementation, say,
    would make the layout ambiguous)."""
    return len(document.text) >= 2 and not any(token in document.text for token in fim_tokens(tokenizer).as_list())


def fim_example(document: Document, units: list[dict[str, Any]], options: Mapping[str, Any], rng: Any, tokenizer: Any) -> Example:
    text = document.text
    language = str(document.metadata.get("language", "text"))
    mode = "spm" if rng.random() < float(options.get("fim_spm_rate", 0.5)) else "psm"
    span = None
    if rng.random() < float(options.get("fim_syntax_rate", 0.5)) and not document.metadata.get("parse_error"):
        span = syntax_span(text, language, units, rng)
    if span is None:
        start, end = random_span(text, rng)
        span = (start, end, "random")
    start, end, kind = span
    sequence = format_fim(text[:start], text[start:end], text[end:], fim_tokens(tokenizer), mode)
    return Example(
        completion=sequence,
        kind=f"fim_{mode}",
        doc_id=document.id,
        metadata={"language": language, "span": kind, "prefix_chars": start, "middle_chars": end - start},
    )


def unit_chunks(text: str, path: str, language: str, units: list[dict[str, Any]], max_chars: int, imports: list[list[int]]) -> Iterator[str]:
    """Each function and method that is not nested in another function, with its context (path
    header, imports, enclosing class header), so a training chunk follows syntax; a unit longer
    than ``max_chars`` is split at the line where one of its statements starts."""
    imported = "".join(text[s:e] + "\n" for s, e in imports)
    context = header(path, language) + (imported + "\n" if imported else "")
    for unit in units:
        if unit["kind"] not in ("function", "method"):
            continue
        parent = units[unit["parent"]] if unit["parent"] is not None else None
        if parent is not None and parent["kind"] not in ("class",):
            continue  # nested in a function: already inside that function's chunk
        line_start = text.rfind("\n", 0, unit["start"]) + 1
        body = text[line_start : unit["end"]]
        opening = closing = ""
        if parent is not None:
            parent_line = text.rfind("\n", 0, parent["start"]) + 1
            opening = text[parent_line : parent["body_start"]].rstrip()
            if language in BRACE_LANGUAGES:
                opening, closing = opening.rstrip("{").rstrip() + " {\n", "\n}\n"
            else:
                opening += "\n"
        for piece in split_at_statements(body, max_chars - len(context) - len(opening) - len(closing)):
            yield context + opening + piece + closing


def split_at_statements(body: str, max_chars: int) -> list[str]:
    """``body`` in pieces of at most about ``max_chars``, cut only before a line that starts a
    statement of the outermost body level (its indentation); a single longer line stays whole."""
    if len(body) <= max_chars or max_chars <= 0:
        return [body]
    lines = body.splitlines(keepends=True)
    base = len(lines[0]) - len(lines[0].lstrip())
    levels = [len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()]
    deeper = [n for n in levels if n > base]
    level = min(deeper) if deeper else base
    pieces: list[str] = []
    current = ""
    for index, line in enumerate(lines):
        starts_statement = (
            index > 0
            and line.strip()
            and len(line) - len(line.lstrip()) <= level
            and not line.lstrip().startswith(("}", ")", "]", "else", "elif", "except", "finally", "catch"))
        )
        if current and starts_statement and len(current) + len(line) > max_chars:
            pieces.append(current)
            current = ""
        current += line
    if current:
        pieces.append(current)
    return pieces
