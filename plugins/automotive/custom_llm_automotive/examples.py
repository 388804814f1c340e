"""make_examples for the domain: a test summary becomes causal text plus instruction pairs answered by
the computed results; a report section becomes causal text plus field-extraction pairs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from custom_llm import Document, Example
from custom_llm_automotive.summaries import context_for, prompt, qa_items


def field_question(report: str, key: str) -> str:
    return f"What is the {key.lower()} stated in report {report}?"


def report_context(document: Document) -> str:
    return document.text


def examples_for(document: Document, options: Mapping[str, Any], rng: Any) -> list[Example]:
    examples = [Example(completion=document.text, kind="causal", doc_id=document.id)]
    kind = document.metadata.get("doc_type")
    if kind == "test":
        results = document.metadata["results"]
        items = qa_items(results)
        limit = int(options.get("questions_per_test", 12))
        if 0 < limit < len(items):
            # exceeded limits are rare (most criteria pass): keep every such question, sample the rest
            rare = [i for i in items if i["type"] == "verdict" and i["exceeds"]][:limit]
            common = [i for i in items if not (i["type"] == "verdict" and i["exceeds"])]
            items = rare + rng.sample(common, limit - len(rare))
        for item in items:
            examples.append(
                Example(
                    prompt=prompt(context_for(results, item), item["question"]),
                    completion=f" {item['answer']}\n",
                    kind="instruction",
                    doc_id=document.id,
                    metadata={"type": item["type"], "criterion": item.get("criterion", "")},
                )
            )
    elif kind == "report_section":
        fields = sorted(document.metadata.get("fields", {}).items())
        limit = int(options.get("fields_per_section", 2))
        if 0 < limit < len(fields):
            fields = rng.sample(fields, limit)
        for key, value in fields:
            examples.append(
                Example(
                    prompt=prompt(report_context(document), field_question(document.metadata["report"], key)),
                    completion=f" {value}\n",
                    kind="instruction",
                    doc_id=document.id,
                    metadata={"type": "field"},
                )
            )
    return examples
