"""The public-sector domain's checkable questions (citations, headings) and reward, through the
Domain it registers, on the real legal samples."""

from __future__ import annotations

from custom_llm.testing import domain_examples

NAME = "public_sector"


def test_citations_and_headings_are_checkable_and_their_truth_earns_the_full_reward(plugins, legal):
    domain = plugins.domains.get(NAME)
    examples = {e.metadata["task"]: e for e in domain_examples(NAME, legal.cited("3 CFR 101.1"), plugins) if e.kind == "instruction"}
    assert {task for task, e in examples.items() if domain.checkable(e)} == {"which", "cite_text", "heading"}
    assert not domain.checkable(examples["provides"])
    for task in ("which", "cite_text", "heading"):
        assert domain.reward(examples[task], examples[task].completion) == 1.0
        assert domain.reward(examples[task], "I cannot say.") == 0.0
    assert domain.reward(examples["which"], "3 cfr 101.1.") == 1.0  # case and a final period aside
    assert domain.reward(examples["which"], "section 101.1") == 0.5  # the provision number, cited another way
    assert domain.reward(examples["heading"], "Executive Office") == 0.0
