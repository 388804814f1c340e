"""Counts print as integers in every table: report.md and `runs show` share one rule."""

from custom_llm.cli_run_tables import _value
from custom_llm.metric_kinds import is_count
from custom_llm.reports.cells import value_cell


def test_counts_are_recognised_by_name() -> None:
    for metric in ("cases", "line_examples", "held_out_tokens", "verdict_minority_answers", "verdict_minority_cases"):
        assert is_count(metric), metric
    for metric in ("exact_match", "bits_per_byte", "verdict_balanced_accuracy", "answer_rate"):
        assert not is_count(metric), metric


def test_a_count_prints_as_an_integer_in_both_tables() -> None:
    row = {"metric": "verdict_minority_answers", "base": 3.0, "tuned": 12.0}
    assert value_cell(row, "tuned") == "12"
    assert _value(row, "base") == "3"
    measured = {"metric": "verdict_choice_accuracy", "base": 0.5, "tuned": 0.75}
    assert value_cell(measured, "tuned") != "0"
    assert _value(measured, "tuned") == "0.7500"
