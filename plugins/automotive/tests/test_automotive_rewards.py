"""The automotive domain's checkable questions and reward, through the Domain it registers."""

from __future__ import annotations

from automotive_helpers import NAME, examples


def test_every_computed_question_is_checkable_and_its_truth_earns_the_full_reward(plugins, ingested):
    domain = plugins.domains.get(NAME)
    tests = [d for d in ingested.documents if d.metadata.get("doc_type") == "test"]
    made = [e for d in tests[:3] for e in examples(plugins, d)]
    questions = [e for e in made if e.kind == "instruction"]
    assert questions and all(domain.checkable(e) for e in questions)
    assert not any(domain.checkable(e) for e in made if e.kind == "causal")
    for example in questions:
        assert domain.reward(example, example.completion) == 1.0
        assert domain.reward(example, "I do not know.") == 0.0


def test_a_verdict_with_the_right_decision_but_other_words_earns_half(plugins, ingested):
    domain = plugins.domains.get(NAME)
    tests = [d for d in ingested.documents if d.metadata.get("doc_type") == "test"]
    verdicts = [e for d in tests for e in examples(plugins, d) if e.metadata.get("type") == "verdict"]
    exceeded = next(e for e in verdicts if e.metadata["exceeds"])
    within = next(e for e in verdicts if not e.metadata["exceeds"])
    assert domain.reward(exceeded, "It exceeds. Yes.") == 0.5
    assert domain.reward(exceeded, "It is within. No.") == 0.0
    assert domain.reward(within, "within. No.") == 0.5
    numeric = next(e for d in tests for e in examples(plugins, d) if e.metadata.get("type") == "numeric")
    number = numeric.completion.strip().split()[0]
    assert domain.reward(numeric, f"{number} units, roughly.") == 0.5
