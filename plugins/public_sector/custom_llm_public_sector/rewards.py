"""The public-sector domain's checkable answers and reward (the ``dpo``, ``orpo`` and ``grpo``
recipes): a citation (which provision deals with a heading, which provision a passage is from) and
a provision's heading have one right answer; what a provision provides, or what a term means, is
a passage that a sampled answer cannot be checked against exactly, so those are not checkable."""

from __future__ import annotations

from custom_llm import Example

CHECKED = ("which", "cite_text", "heading")
PARTIAL = 0.5  # a citation naming the right provision number in another form


def _normal(text: str) -> str:
    return " ".join(text.strip().rstrip(".").split()).casefold()


def checkable(example: Example) -> bool:
    """A question whose answer is a citation or a heading."""
    return example.kind == "instruction" and example.metadata.get("task") in CHECKED


def reward(example: Example, completion: str) -> float:
    """1.0 for the citation or heading (case, spacing and a final period aside); 0.5 for a citation
    answer that ends with the right provision number (``101.1`` for ``3 CFR 101.1``); 0.0 otherwise."""
    truth = _normal(example.completion)
    said = _normal((completion.strip().splitlines() or [""])[0])
    if said == truth:
        return 1.0
    if example.metadata.get("task") in ("which", "cite_text") and said and truth.split()[-1] == said.split()[-1]:
        return PARTIAL
    return 0.0
