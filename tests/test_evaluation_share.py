"""The evaluation share holds the memorization audit and the retrieval baseline's real cost."""

from types import SimpleNamespace

import pytest

from custom_llm.evaluation.eval_plan import MIN_EVALUATORS_SHARE, RETRIEVAL_PASS_RATIO
from custom_llm.evaluation.evaluate import retrieval_shortfall
from custom_llm.evaluation.evaluator_output import split_metrics
from custom_llm.records import Cases
from custom_llm.run.orchestration import evaluators_share


def test_the_audit_of_base_and_tuned_comes_out_of_the_share():
    run = SimpleNamespace(artifacts={"memorization_seconds": 30.0})
    assert evaluators_share(run, 240.0) == pytest.approx(180.0)
    assert evaluators_share(run, None) is None
    slow = SimpleNamespace(artifacts={"memorization_seconds": 100.0})  # the evaluators keep their floor
    assert evaluators_share(slow, 240.0) == pytest.approx(MIN_EVALUATORS_SHARE * 240.0)


def test_a_retrieval_pass_the_calibration_could_not_show_is_costed_from_the_plain_pass():
    # the codebase demo's calibration: 2.28 s plain, 0.49 s with retrieval, which then took 1.9x the plain pass
    timings = {"evaluate calibration: perplexity": 2.28, "evaluate calibration+retrieval: code-exact": 0.49}
    assert retrieval_shortfall(timings) == pytest.approx(RETRIEVAL_PASS_RATIO * 2.28 - 0.49)
    assert retrieval_shortfall({**timings, "evaluate calibration+retrieval: code-exact": 9.0}) == 0.0  # measured longer: kept
    assert retrieval_shortfall({"evaluate calibration: perplexity": 2.28}) == 0.0  # no retrieval: nothing added


def test_an_evaluators_metrics_split_into_figures_and_cases():
    output = split_metrics({"exact": Cases([1.0, 0.0, 1.0, 1.0]), "bits": 1.5})
    assert output.figures == {"exact": 0.75, "bits": 1.5}
    assert output.cases == {"exact": {"values": [1.0, 0.0, 1.0, 1.0], "weights": None}} and output.counted == 4
