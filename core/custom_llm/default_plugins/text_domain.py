"""The built-in ``text`` domain: plain text, Markdown and JSONL (``text``, ``messages`` or preference lines).

Written only with the public API (``custom_llm``), so it is also the smallest example of a domain
plugin: one ``Domain`` carrying its own functions, registered by one hook.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from custom_llm import Document, Domain, Example, InputError, StageReport, hookimpl, read_text, relative_name, walk_files
from custom_llm.default_plugins.preference_lines import is_preference, read_preference

NAME = "text"
OPTIONS: dict[str, Any] = {
    "extensions": [".txt", ".md", ".markdown", ".rst", ".jsonl"],
    "max_file_bytes": 50_000_000,
}
ROLE_TAGS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}


def discover(source: Path, options: Mapping[str, Any], report: StageReport) -> list[Path]:
    extensions = {e.lower() for e in options["extensions"]}
    files = []
    for path in walk_files(source, report):
        if path.suffix.lower() in extensions:
            files.append(path)
        else:
            readable = ", ".join(sorted(extensions))
            report.skip(relative_name(path, source), f"unsupported file type {path.suffix or '(none)'!r}: the text domain reads {readable}")
    return files


def ingest(source: Path, files: list[Path], options: Mapping[str, Any], report: StageReport) -> Iterator[Document]:
    for path in files:
        name = relative_name(path, source)
        documents: list[Document] = []
        with report.reading(name):
            text = read_text(path, report, options["max_file_bytes"], label=name)
            if text is None:
                continue
            if path.suffix.lower() == ".jsonl":
                documents = list(_jsonl_documents(name, text, report))
            else:
                report.count("documents: text")
                documents = [Document(text=text, source=name, metadata={"format": path.suffix.lower().lstrip(".") or "txt"})]
        yield from documents


def _jsonl_documents(name: str, text: str, report: StageReport) -> Iterator[Document]:
    # JSON Lines are separated by "\n" only: str.splitlines would also cut at U+2028 and other
    # separators that a JSON string may hold unescaped.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            record = read_jsonl_line(line)
        except InputError as error:
            report.skip(where, str(error))
            continue
        if "rejected" in record:  # a preference pair: the chosen answer's conversation, the rejected answer beside it
            messages = record["messages"]
            report.count("documents: jsonl preference pairs")
            yield Document(
                text=render_messages(messages),
                source=where,
                group=where,
                metadata={"format": "preference", "messages": messages, "rejected": record["rejected"]},
            )
        elif "messages" in record:
            messages = record["messages"]
            report.count("documents: jsonl messages")
            yield Document(
                text=render_messages(messages),
                source=where,
                group=where,
                metadata={"format": "messages", "messages": messages},
                identifiers=record.get("identifiers", {}),
            )
        else:
            report.count("documents: jsonl text")
            yield Document(text=record["text"], source=where, group=where, metadata={"format": "jsonl"}, identifiers=record.get("identifiers", {}))


def read_jsonl_line(line: str) -> dict[str, Any]:
    """The usable part of one JSONL line: ``{"text": str}``, ``{"messages": [...]}``, or a preference
    pair as ``{"messages": [... chosen answer], "rejected": str}`` (``preference_lines``).

    Raises InputError with the reason when the line is not JSON, has no usable field or holds
    text that is not valid Unicode (a lone surrogate escaped as ``\\ud800``)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(f"invalid JSON: {error.msg}") from None
    except RecursionError:
        raise InputError("invalid JSON: nested too deeply to be read") from None
    except ValueError as error:  # an integer of more than 4,300 digits
        raise InputError(f"invalid JSON: {error}") from None
    if isinstance(record, dict) and isinstance(record.get("text"), str) and record["text"].strip():
        _check_unicode(record["text"])
        return {"text": record["text"], **_identifiers(record)}
    if is_preference(record):
        return read_preference(record)
    if isinstance(record, dict) and _valid_messages(record.get("messages")):
        messages = [{"role": m["role"], "content": m["content"]} for m in record["messages"]]
        for message in messages:
            _check_unicode(message["content"])
        return {"messages": messages, **_identifiers(record)}
    raise InputError(
        "no usable field: a JSONL line needs a non-empty 'text' string, a 'messages' list of {role, content}, "
        "or a preference pair 'prompt', 'chosen', 'rejected'"
    )


def _identifiers(record: dict[str, Any]) -> dict[str, Any]:
    """A line's optional ``identifiers``: values that name a person, replaced wherever they occur in
    the line (``{"identifiers": {"customer": "Jane Doe", "account": ["123-45"]}}``; Document.identifiers)."""
    marked = record.get("identifiers")
    if marked is None:
        return {}
    if not (
        isinstance(marked, dict) and all(isinstance(v, str) or (isinstance(v, list) and all(isinstance(i, str) for i in v)) for v in marked.values())
    ):
        raise InputError("invalid identifiers: 'identifiers' must map field names to a string or a list of strings")
    return {"identifiers": marked}


def _check_unicode(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InputError(f"invalid text: {text[error.start]!r} at character {error.start} is a lone surrogate, not valid Unicode") from None


def _valid_messages(messages: Any) -> bool:
    return (
        isinstance(messages, list)
        and bool(messages)
        and all(isinstance(m, dict) and m.get("role") in ROLE_TAGS and isinstance(m.get("content"), str) for m in messages)
        and messages[-1]["role"] == "assistant"
    )


def render_messages(messages: list[dict[str, str]]) -> str:
    """A plain chat layout; models without a chat template learn this one."""
    return "".join(f"{ROLE_TAGS[m['role']]}\n{m['content']}\n" for m in messages)


def special_tokens(tokenizer: Any) -> list[str]:
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return []  # conversations use the base model's own chat template, not our plain role tags
    return list(ROLE_TAGS.values())


def make_examples(document: Document) -> list[Example]:
    messages = document.metadata.get("messages")
    if messages:
        prompt = render_messages(messages[:-1]) + ROLE_TAGS["assistant"] + "\n"
        rejected = document.metadata.get("rejected")
        metadata = {"rejected": rejected + "\n"} if rejected else {}  # a preference pair: dpo and orpo train on both answers
        return [
            Example(
                completion=messages[-1]["content"] + "\n",
                prompt=prompt,
                kind="instruction",
                doc_id=document.id,
                messages=tuple(messages[:-1]),
                metadata=metadata,
            )
        ]
    return [Example(completion=document.text, kind="causal", doc_id=document.id)]


TUNING = {"time_budget": "10m"}  # a first run on a laptop finishes; --time-budget none trains the full epochs


@hookimpl
def register_domains(register):
    register(
        Domain(
            name=NAME,
            description="Plain text, Markdown and JSONL (text or chat messages), from files or folders.",
            discover=discover,
            ingest=ingest,
            make_examples=make_examples,
            special_tokens=special_tokens,
            recipe_defaults={name: TUNING for name in ("lora", "qlora", "full", "dpo", "orpo", "grpo", "dpo-full", "orpo-full")},
            options=OPTIONS,
            default_recipe="lora",
            default_base_model="smollm2-135m-instruct",
        )
    )
