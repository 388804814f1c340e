"""Code lines as checkable answers: the examples the codebase domain gives the preference and reward
recipes, its "line reproduced" reward, and a dpo and a grpo step through the CLI with a tiny model."""

from __future__ import annotations

import json
import random

import pytest

from conftest import CLICK_SOURCE
from custom_llm import Document, Example
from custom_llm.testing import make_tiny_model, run_domain
from custom_llm_codebase.answers import ANSWER_LINES, PARTIAL, PROMPT_SHARE, answer_examples, checkable, reward
from custom_llm_codebase.fim import DEFAULT_SET

FILES = {
    f"ops_{n}.py": "".join(f"def add_{n}_{i}(value):\n    total = value + {i}\n    return total * {n}\n\n\n" for i in range(40)) for n in (2, 3)
}  # regular code a tiny model learns to continue in a few steps: its answers differ, and so do their rewards


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny model trained a little on the files (a random one answers every line alike, and GRPO
        learns nothing from four answers with one reward). Its tokenizer lacks the FIM sentinels, so the
        run adds them, as it does to SmolLM2's, whose head is tied to its embeddings: TRL's trainers must
    work with added tokens there."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    texts = list(FILES.values())
    folder = make_tiny_model(tmp_path_factory.mktemp("base") / "tiny", texts, vocab_size=400)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    ids = torch.tensor(tokenizer("".join(texts))["input_ids"])
    blocks = ids[: len(ids) // 64 * 64].view(-1, 64)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    for _ in range(30):
        batch = blocks[torch.randint(len(blocks), (8,))]
        model(input_ids=batch, labels=batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.config.tie_word_embeddings = True  # the head tied to the embeddings, as SmolLM2's: peft then wraps both for added tokens
    model.lm_head.weight = model.model.embed_tokens.weight
    model.save_pretrained(folder)
    return folder


@pytest.fixture
def repo(tmp_path):
    folder = tmp_path / "repo"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(text)
    return folder


def test_each_answer_is_a_line_of_the_file_after_the_code_before_it(tiny):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    text = (CLICK_SOURCE / "exceptions.py").read_text()
    document = Document(text=text, source="click/exceptions.py", metadata={"language": "python"})
    examples = answer_examples(document, {"fim_rate": 0.5}, random.Random(3), tokenizer, 512)
    assert len(examples) == ANSWER_LINES and {e.kind for e in examples} == {"code_line", "code_fim_line"}
    lines = text.split("\n")
    for example in examples:
        number = example.metadata["line"]
        assert example.completion == lines[number - 1] and checkable(example)
        before = "\n".join(lines[: number - 1]) + "\n"
        if example.kind == "code_line":
            context = example.prompt.split("\n", 2)[2]  # after the two header lines (path, language)
            assert before.endswith(context) and context.count("\n") >= 1
        else:
            prefix, rest = example.prompt.split(DEFAULT_SET[1])
            suffix = rest.removesuffix(DEFAULT_SET[2])
            assert before.endswith(prefix.split("\n", 2)[2]) and ("\n".join(lines[number:]) + "\n").startswith(suffix.removeprefix("\n"))
        assert len(tokenizer(example.prompt)["input_ids"]) <= 512 * PROMPT_SHARE


def test_the_reward_is_one_for_the_line_and_partial_for_a_right_start():
    example = Example(completion="    return value + 1", prompt="def f(value):\n", kind="code_line")
    assert reward(example, "    return value + 1  \nmore code") == 1.0
    assert reward(example, "    return value - 1") == pytest.approx(PARTIAL * len("    return value ") / len("    return value + 1"))
    assert reward(example, "  return value + 1") == pytest.approx(PARTIAL * 2 / len("    return value + 1"))  # indentation wrong
    assert reward(example, "pass") == 0.0
    assert not checkable(Example(completion="x = 1", kind="causal"))


def test_dpo_on_the_starting_models_wrong_lines_through_the_cli(tmp_path, repo, tiny):
    options = ("--base-model", str(tiny), "--max-steps", "1", "--seq-len", "256", "--batch-size", "2")
    report = run_domain("codebase", [repo], tmp_path / "dpo", "--recipe", "dpo", *options)
    training = report["training"]
    assert training["trainer_class"] == "DPOTrainer" and training["steps_done"] == 1 and training["weights_moved"]
    assert report["data"]["added_tokens"] == ", ".join(DEFAULT_SET)  # added to the base; trained only by the causal recipes
    assert training["on_policy_pairs"] > 0 and training["on_policy_pairs"] + training["answered_right"] == training["checkable_asked"]
    lines = {line for text in FILES.values() for line in text.split("\n")}
    pairs = [json.loads(line) for line in (tmp_path / "dpo" / "metrics" / "preference_pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == training["pairs"]
    for pair in pairs:
        assert pair["origin"] == "on-policy" and pair["chosen"].strip() != pair["rejected"].strip()
        assert pair["chosen"] in lines  # the truth is the file's own line, laid out raw (no chat template)
    assert any(DEFAULT_SET[2] in pair["prompt"] for pair in pairs) and any(DEFAULT_SET[2] not in pair["prompt"] for pair in pairs)


def test_a_grpo_step_scores_sampled_lines_with_the_codebase_reward(tmp_path, repo, tiny):
    options = ("--base-model", str(tiny), "--max-steps", "3", "--seq-len", "128", "--learning-rate", "0.01")
    report = run_domain("codebase", [repo], tmp_path / "grpo", "--recipe", "grpo", *options)
    training = report["training"]
    assert training["trainer_class"] == "GRPOTrainer" and training["steps_done"] == 3
    assert training["rewards_scored"] == 3 * 4 and 0.0 <= training["mean_reward"] <= 1.0  # a prompt a step, four sampled answers each
    assert training["prompts"] > 0 and training["weights_moved"]


def test_continued_pretraining_then_tasks_pairs_with_the_original_base(tmp_path, repo, tiny):
    """``training_examples`` changes only what is trained (a training option): the task stage asks the
    cases its starting run asked, so it is compared with the original base too, case by case."""
    options = ("--base-model", str(tiny), "--max-steps", "2", "--seq-len", "128", "--batch-size", "2")
    lean = tmp_path / "lean.yaml"
    lean.write_text("memorization_audit: false\ncanaries: 0\nretrieval_top_k: 0\n")
    files = run_domain(
        "codebase", [repo], tmp_path / "cpt", "--recipe", "lora", "--option", "training_examples=files", "--config", str(lean), *options
    )
    tasks = run_domain(
        "codebase",
        [repo],
        tmp_path / "tasks",
        "--from",
        str(tmp_path / "cpt"),
        "--option",
        "training_examples=tasks",
        "--config",
        str(lean),
        "--recipe",
        "lora",
        *options[2:],
    )
    assert tasks["evaluation"]["adopted_from"] and tasks["evaluation"]["identity"] == files["evaluation"]["identity"]
    rows = {(r["evaluator"], r["metric"]): r for r in tasks["original_base"]["comparison"]}
    bpb = rows[("perplexity", "bits_per_byte")]
    assert bpb["base"] == files["base"]["perplexity"]["bits_per_byte"] and bpb["n"] > 0 and bpb["verdict"]
