"""The automotive domain's checkable answers and reward (the ``dpo``, ``orpo`` and ``grpo``
recipes): every question a test or report gives has one computed answer (a criterion's value, a
verdict against its limit, the channel with the highest deflection, a report field), so each is
checkable, and a sampled answer is scored the way the evaluators judge it."""

from __future__ import annotations

from custom_llm import Example
from custom_llm_automotive.evaluators import first_number, parse_verdict

CHECKED = ("numeric", "verdict", "channel", "field")
PARTIAL = 0.5  # the decision or the number right, the rest of the answer not


def checkable(example: Example) -> bool:
    """A question with one computed answer."""
    return example.kind == "instruction" and example.metadata.get("type") in CHECKED


def reward(example: Example, completion: str) -> float:
    """1.0 for the answer as computed (its first line, whitespace aside); 0.5 for a verdict whose
    decision is right or a value whose number is right though the rest differs; 0.0 otherwise."""
    truth = example.completion.strip()
    said = (completion.strip().splitlines() or [""])[0].strip()
    if said == truth:
        return 1.0
    kind = example.metadata.get("type")
    if kind == "verdict":
        expected = parse_verdict(truth)
        return PARTIAL if expected is not None and parse_verdict(said) is expected else 0.0
    if kind == "numeric":
        expected_number = first_number(truth)
        return PARTIAL if expected_number is not None and first_number(said) == expected_number else 0.0
    return 0.0
