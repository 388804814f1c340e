"""Scoring instruction answers, side by side in one process, on the automotive domain's held-out
questions with the pretrained base (SmolLM2-135M-Instruct, chat template):

  G. greedy generation of every answer (``EvalContext.answer``), then string comparison: what an
     evaluator costs without the teacher-forced pass;
  T. ``EvalContext.score_answers`` as shipped: batched, a shared prompt start computed once;
  U. the same pass with prefix sharing turned off (every case computes its whole prompt).

Prints seconds per case and the ratios G/T and U/T, and checks that T and U agree case by case and
that T agrees with G on exact match.

    python benchmarks/answer_scoring.py [--tests 20] [--cases 120] [--generate 24]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path


def questions(tests: int, folder: Path) -> list[tuple[str, str]]:
    from custom_llm.plugins import get_plugins
    from custom_llm.records import StageReport
    from custom_llm_automotive.generator import generate
    from custom_llm_automotive.summaries import context_for, prompt, qa_items

    generate(folder, tests, seed=0, reports=False)
    plugins = get_plugins()
    report = StageReport()
    options = dict(plugins.domains.get("automotive").options)
    files = plugins.hook.discover_files(domain="automotive", source=folder, options=options, report=report)
    documents = plugins.hook.ingest(domain="automotive", source=folder, files=files, options=options, report=report)
    cases = []
    for document in documents:
        if document.metadata.get("doc_type") == "test":
            results = document.metadata["results"]
            cases += [(prompt(context_for(results, item), item["question"]), f" {item['answer']}\n") for item in qa_items(results)]
    random.Random(0).shuffle(cases)
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=20)
    parser.add_argument("--cases", type=int, default=120)
    parser.add_argument("--generate", type=int, default=24, help="cases generated for G (its time is per case)")
    parser.add_argument("--precision", choices=("auto", "fp32"), default="auto", help="auto: bf16 where this CPU has it natively")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import custom_llm.evaluation.teacher_forcing as teacher_forcing
    from custom_llm.default_plugins.base_models import DEFAULT_BASE_MODEL
    from custom_llm.evaluation.context import EvalContext
    from custom_llm.models.base_model import base_folder, resolve_base_model
    from custom_llm.plugins import get_plugins
    from custom_llm.run.cache import StageCache, default_cache_dir
    from custom_llm.training.precision import use_bf16

    folder = base_folder(resolve_base_model(DEFAULT_BASE_MODEL, get_plugins()), StageCache(default_cache_dir()))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    bf16 = use_bf16("auto") if args.precision == "auto" else False
    with tempfile.TemporaryDirectory() as tmp:
        cases = questions(args.tests, Path(tmp))[: args.cases]
    ctx = EvalContext(model=model, tokenizer=tokenizer, documents=[], settings={}, domain_options={})
    timings = {}
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        ctx.score_answers(cases[:4])  # warm up
        start = time.perf_counter()
        shared = ctx.score_answers(cases)
        timings["T"] = (time.perf_counter() - start) / len(cases)
        threshold = teacher_forcing.SHARED_PREFIX_TOKENS
        teacher_forcing.SHARED_PREFIX_TOKENS = 10**9
        start = time.perf_counter()
        alone = ctx.score_answers(cases)
        timings["U"] = (time.perf_counter() - start) / len(cases)
        teacher_forcing.SHARED_PREFIX_TOKENS = threshold
        start = time.perf_counter()
        generated = [ctx.answer(p, len(tokenizer(a)["input_ids"]) + 4, ["\n"]) for p, a in cases[: args.generate]]
        timings["G"] = (time.perf_counter() - start) / len(generated)
    same = sum(a.exact == b.exact for a, b in zip(shared, alone, strict=True))
    agree = sum((g == s.text) == s.exact for g, s in zip(generated, shared, strict=False))
    print(f"bf16 {'on' if bf16 else 'off'}; {len(cases)} cases ({args.tests} tests), {len(generated)} generated")
    for key, label in (("G", "generate"), ("T", "score_answers"), ("U", "no prefix sharing")):
        print(f"{key} {label:<20} {timings[key]:.3f} s/case")
    print(f"G/T {timings['G'] / timings['T']:.1f}x   U/T {timings['U'] / timings['T']:.2f}x")
    print(
        f"T and U agree on exact match in {same}/{len(cases)} cases; T and G in {agree}/{len(generated)}; "
        f"max |logprob difference| {max(abs(a.logprob - b.logprob) for a, b in zip(shared, alone, strict=True)):.4f} nats"
    )


if __name__ == "__main__":
    main()
