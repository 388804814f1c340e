"""make_examples for the domain: a test summary becomes causal text plus instruction pairs answered by
the computed results; a report section becomes causal text plus field-extraction pairs.

Most criteria are within their limits (about 96% of the generated sample's), so verdict questions
alone teach a model to answer "No." whatever the data says. Each test therefore also gives
``counterfactual_verdicts`` verdict questions on a copy of its data sheet with one criterion's value
moved across (or just under) its limit, each of the kind the test's verdict questions lack, so the
training verdicts are balanced and only the limits and the comparison explain the answers.
Evaluation asks only about the real held-out values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from custom_llm import Document, Example
from custom_llm_automotive.analysis import CRITERIA
from custom_llm_automotive.summaries import context_for, prompt, qa_items

# counterfactual values: above the limit by 3-60%, or below it by 3-45% (never equal after rounding)
ABOVE = (1.03, 1.6)
BELOW = (0.55, 0.97)


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
        asked = [(results, item) for item in items]
        asked += counterfactuals(results, items, int(options.get("counterfactual_verdicts", 6)), rng)
        for sheet, item in asked:
            examples.append(
                Example(
                    prompt=prompt(context_for(sheet, item), item["question"]),
                    completion=f" {item['answer']}\n",
                    kind="instruction",
                    doc_id=document.id,
                    metadata={
                        "type": item["type"],
                        "criterion": item.get("criterion", ""),
                        **({"exceeds": item["exceeds"], "counterfactual": sheet is not results} if item["type"] == "verdict" else {}),
                    },
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


def with_value(results: dict[str, Any], role: str, name: str, value: float) -> dict[str, Any]:
    """A copy of ``results`` where ``role``'s criterion ``name`` measured ``value`` (verdict redone
    against the same limit); everything else is shared, not copied."""
    occupants = []
    for occupant in results.get("occupants", []):
        if occupant["role"] == role and name in occupant["criteria"]:
            entry = occupant["criteria"][name]
            changed = {**entry, "value": value, "verdict": "fail" if value > entry["limit"] else "pass"}
            occupant = {**occupant, "criteria": {**occupant["criteria"], name: changed}}
        occupants.append(occupant)
    return {**results, "occupants": occupants}


def counterfactuals(results: dict[str, Any], asked: list[dict[str, Any]], count: int, rng: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``count`` verdict questions on copies of the test with one criterion moved across (or near)
    its limit, each of the kind (exceeded or within) the questions so far have fewer of."""
    limited = [
        (occupant["role"], name, entry["limit"])
        for occupant in results.get("occupants", [])
        for name, entry in occupant["criteria"].items()
        if entry.get("limit") and name in CRITERIA
    ]
    if not limited or count <= 0:
        return []
    verdicts = [i["exceeds"] for i in asked if i["type"] == "verdict" and i["criterion"] != "overall"]
    exceeded, within = verdicts.count(True), verdicts.count(False)
    made = []
    for _ in range(count):
        role, name, limit = rng.choice(limited)
        above = exceeded <= within
        decimals = CRITERIA[name][2]
        value = round(limit * rng.uniform(*(ABOVE if above else BELOW)), decimals)
        sheet = with_value(results, role, name, value)
        item = next(i for i in qa_items(sheet) if i["type"] == "verdict" and i["role"] == role and i["criterion"] == name)
        made.append((sheet, item))
        exceeded, within = exceeded + above, within + (not above)
    return made
