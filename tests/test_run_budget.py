"""``--time-budget`` covers the whole run: evaluation sized to its share from a timed calibration
(the same cases for base and tuned, chosen with the seed, the counts on the console and in the
report), training given what is left, a dry run that estimates all of it; evaluators show their
case counts; generation runs in eval mode with the cache; the closing advice fits the run."""

from __future__ import annotations

import json
import re
import time

import pytest
from click.testing import CliRunner

from custom_llm.cli import main
from custom_llm.evaluation.eval_plan import EVAL_BUDGET_SHARE, MIN_EVALUATORS_SHARE, fitted_plan, sized
from custom_llm.records import Document
from custom_llm.testing import TINY_RUN_OPTIONS


def documents(n: int) -> list[Document]:
    return [Document(id=f"d{i}", text="x" * (100 + 37 * i), source=f"f{i}.txt") for i in range(n)]


def test_sized_samples_by_bytes_with_the_seed_nested_and_in_order():
    docs = documents(40)
    small, examples, cases, covered = sized(docs, 0.1, seed=3, max_examples=64, max_cases=1000)
    large, *_ = sized(docs, 0.5, seed=3, max_examples=64, max_cases=1000)
    assert {d.id for d in small} < {d.id for d in large}  # nested: the calibration is part of the planned set
    assert [d.id for d in small] == [d.id for d in docs if d in small]  # original order kept
    assert 0.05 < covered <= 0.1 and (examples, cases) == (7, 100)  # documents that would overshoot are skipped
    assert sized(docs, 0.1, seed=4, max_examples=64, max_cases=1000)[0] != small  # another seed, another sample
    assert sized(docs, 1.0, seed=3, max_examples=64, max_cases=1000)[0] == docs


def test_fitted_plan_fits_half_the_share_each():
    docs = documents(40)
    # calibration: 5% of the set in 2 s, so all of it would take 40 s; 20 s for both evaluations
    plan = fitted_plan(docs, 64, 1000, seed=0, share_seconds=20.0, calibration_seconds=2.0, calibrated=0.05)
    assert plan.fraction == pytest.approx(0.25)
    assert plan.documents < len(docs) and plan.estimated_seconds <= 10.0 * 1.15  # whole documents: a little over at most
    assert "of 40 held-out documents" in plan.describe() and "time budget" in plan.describe()
    cheap = fitted_plan(docs, 64, 1000, seed=0, share_seconds=200.0, calibration_seconds=2.0, calibrated=0.05)
    assert (cheap.fraction, cheap.documents, cheap.max_examples) == (1.0, 40, 64)


def plan_value(output: str, key: str) -> float:
    found = re.search(rf"{key}\W+([\d.]+)", output)
    assert found, output
    return float(found.group(1))


@pytest.mark.slow
def test_dry_run_estimates_the_whole_budgeted_run(tmp_path, text_corpus):
    """The dry run's total (data, both evaluations, xz, training) has the order of magnitude of
    the run that follows; the run reports its evaluation plan and gives training what is left."""
    options = [*[o for o in TINY_RUN_OPTIONS if o != "--quiet"], "--time-budget", "40s"]
    common = ["run", "--recipe", "scratch", "--source", str(text_corpus), "--cache-dir", str(tmp_path / "cache"), *options]
    dry = CliRunner().invoke(main, [*common, "--output", str(tmp_path / "plan"), "--dry-run"], env={"COLUMNS": "200"})
    assert dry.exit_code == 0, dry.output
    for key in ("training_steps", "evaluation_documents", "evaluation_max_examples", "estimated_evaluation_minutes", "estimated_total_minutes"):
        assert key in dry.output
    estimate = plan_value(dry.output, "estimated_total_seconds")
    started = time.perf_counter()
    result = CliRunner().invoke(main, [*common, "--output", str(tmp_path / "run")], env={"COLUMNS": "200"})
    took = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    evaluation = report["evaluation"]
    # the evaluators' part of the share: the memorization audit of both models comes out of it
    assert MIN_EVALUATORS_SHARE * EVAL_BUDGET_SHARE * 40 - 0.1 <= evaluation["share_seconds"] <= EVAL_BUDGET_SHARE * 40 + 0.1
    assert evaluation["base_seconds"] > 0 and evaluation["tuned_seconds"] > 0
    assert f"of {evaluation['documents_available']} held-out documents" in result.output
    assert (
        f"Evaluated on {evaluation['documents']} of {evaluation['documents_available']} held-out documents"
        in (tmp_path / "run" / "report.md").read_text()
    )
    assert report["training"]["time_budget_seconds"] < 40  # training's share: the rest of the budget
    assert estimate / 4 <= took <= estimate * 4, (estimate, took)  # a tiny run on a shared CPU: the order of magnitude
    assert re.search(r"evaluate base: perplexity \(\d+ cases\)", result.output)  # each evaluator's bar counts its cases


def test_generation_runs_in_eval_mode_with_the_cache(tiny_base_model):
    """Training leaves the model in train mode with use_cache off and gradient checkpointing on:
    greedy generation must not inherit any of it (dropout would make it random)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from custom_llm.evaluation.context import EvalContext

    model = AutoModelForCausalLM.from_pretrained(tiny_base_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base_model)
    model.config.use_cache = False
    model.gradient_checkpointing_enable()
    model.train()
    seen: list[tuple[int, bool]] = []
    model.model.register_forward_pre_hook(lambda m, _a, kw: seen.append((kw["input_ids"].shape[1], m.training)), with_kwargs=True)
    ticks: list[str] = []
    context = EvalContext(model=model, tokenizer=tokenizer, documents=[], settings={}, domain_options={}, progress=lambda k, n, t: ticks.append(k))
    context.generate("def main(", max_new_tokens=6)
    assert len(seen) >= 2 and all(length == 1 for length, _ in seen[1:])  # one new token per step: the cache is used
    assert not any(training for _, training in seen)  # eval mode: no dropout
    assert model.training  # ... and the caller's mode restored
    assert ticks == ["generated"]


def test_closing_advice_fits_the_run():
    from types import SimpleNamespace

    from custom_llm.reports.report import SCRATCH_ADVICE, xz_verdict
    from custom_llm.run.orchestration import run_advice

    training = {"batch_size": 8, "gradient_accumulation_steps": 1, "epochs": 1, "max_steps": None, "time_budget": None}
    data = SimpleNamespace(packed=SimpleNamespace(train=SimpleNamespace(n_blocks=800)))
    scratch = SimpleNamespace(base=None, training=training)
    pretrained = SimpleNamespace(base=object(), training=training)
    base = {"perplexity": {"bits_per_byte": 1.2}}
    assert run_advice(scratch, data, {"steps_done": 5}, base) == SCRATCH_ADVICE
    budgeted = run_advice(pretrained, data, {"steps_done": 5, "stopped_by_time_budget": True}, base)
    assert "pretrained base" not in budgeted and "5.0% of one epoch" in budgeted and "--time-budget" in budgeted
    assert "pretrained base model" not in xz_verdict(2.0, 1.5, budgeted)
    assert "more data" in run_advice(pretrained, data, {"steps_done": 200}, base)
