"""report.md's side-by-side cases: chosen with the seed by outcome, labelled, with the tally of all offered cases."""

from __future__ import annotations

from custom_llm.reports.examples import OUTCOMES, example_lines, is_right, pick_examples


def offered(outcomes: dict[str, tuple[bool, bool]]) -> tuple[dict, dict]:
    base, tuned = {}, {}
    for key, (base_right, tuned_right) in outcomes.items():
        base[key] = {"prompt": f"p {key}", "truth": "t", "output": "b", "correct": base_right}
        tuned[key] = {"prompt": f"p {key}", "truth": "t", "output": "u", "correct": tuned_right}
    return base, tuned


def mixed() -> dict[str, tuple[bool, bool]]:
    kinds = [(False, True)] * 3 + [(True, False)] * 2 + [(False, False)] * 40 + [(True, True)] * 10
    return {f"case {i}": kind for i, kind in enumerate(kinds)}


def test_each_informative_outcome_gets_its_share_and_a_label():
    base, tuned = offered(mixed())
    picked = pick_examples(base, tuned, seed=1)
    assert [e["outcome"] for e in picked] == [OUTCOMES[0]] * 2 + [OUTCOMES[1]] * 2 + [OUTCOMES[2]] * 2
    expected = {OUTCOMES[0]: (False, True), OUTCOMES[1]: (True, False), OUTCOMES[2]: (False, False)}
    for example in picked:
        key = example["key"]
        assert (base[key]["correct"], tuned[key]["correct"]) == expected[example["outcome"]]
    assert picked[0]["offered"] == {OUTCOMES[0]: 3, OUTCOMES[1]: 2, OUTCOMES[2]: 40, OUTCOMES[3]: 10}


def test_the_choice_follows_the_seed():
    base, tuned = offered(mixed())
    assert pick_examples(base, tuned, seed=1) == pick_examples(base, tuned, seed=1)
    both_wrong = {s: [e["key"] for e in pick_examples(base, tuned, seed=s) if e["outcome"] == OUTCOMES[2]] for s in range(6)}
    assert len({tuple(keys) for keys in both_wrong.values()}) > 1


def test_a_short_kind_is_filled_from_the_others_and_both_right_comes_last():
    base, tuned = offered({"a": (False, False), "b": (False, False), "c": (False, False), "d": (True, True), "e": (True, True)})
    picked = pick_examples(base, tuned, seed=0)
    assert [e["outcome"] for e in picked] == [OUTCOMES[2]] * 3 + [OUTCOMES[3]] * 2
    assert pick_examples({}, {}, seed=0) == []


def test_without_a_verdict_from_the_evaluator_right_means_the_output_is_the_truth():
    assert is_right({"truth": " x = 1\n", "output": "x = 1"})
    assert not is_right({"truth": "x = 1", "output": "x = 2"})
    assert not is_right({"truth": "x", "output": "x", "correct": False})  # the evaluator's word wins


def test_report_md_states_the_tally_and_each_outcome():
    base, tuned = offered(mixed())
    text = "\n".join(example_lines(pick_examples(base, tuned, seed=1)))
    assert "Of the 55 cases the evaluators offered: tuned right, base wrong 3; base right, tuned wrong 2; both wrong 40; both right 10." in text
    assert text.count(": tuned right, base wrong\n") == 2 and text.count(": both wrong\n") == 2
