"""The built-in ``general_ability`` evaluator: what tuning cost on a general corpus no domain
trains on (``custom_llm.evaluation.general_ability``); core runs it in every evaluation."""

from __future__ import annotations

from custom_llm import hookimpl


@hookimpl
def register_evaluators(register):
    from custom_llm.evaluation.general_ability import EVALUATOR

    register(EVALUATOR)
