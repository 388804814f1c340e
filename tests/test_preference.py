"""Preference tuning through the CLI with tiny models: DPO and ORPO on supplied pairs (TRL's
trainers), bad preference lines reported by file and line, and the chosen-over-rejected margin."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("trl")

from custom_llm.testing import make_tiny_model, run_domain  # noqa: E402

COLOURS = ["red", "blue", "green", "yellow", "black", "white", "purple", "orange", "brown", "grey"]
THINGS = ["sky", "grass", "sun", "snow", "coal", "milk", "plum", "carrot", "soil", "ash", "sea", "lemon"]


def _pairs(tmp_path, bad_lines: bool = False):
    folder = tmp_path / "pairs"
    folder.mkdir()
    lines = []
    for i, thing in enumerate(THINGS * 3):
        right, wrong = COLOURS[i % len(COLOURS)], COLOURS[(i + 3) % len(COLOURS)]
        prompt = f"What colour is the {thing} number {i}?"
        if i % 2:
            lines.append({"prompt": prompt, "chosen": f"It is {right}.", "rejected": f"It is {wrong}."})
        else:  # TRL's conversational form
            lines.append(
                {
                    "prompt": [{"role": "user", "content": prompt}],
                    "chosen": [{"role": "assistant", "content": f"It is {right}."}],
                    "rejected": [{"role": "assistant", "content": f"It is {wrong}."}],
                }
            )
    text = "\n".join(json.dumps(line) for line in lines)
    if bad_lines:
        text += "\n" + json.dumps({"prompt": "No rejected here?", "chosen": "Yes."})
        text += "\n" + json.dumps({"prompt": "Same?", "chosen": "Same.", "rejected": " Same. "})
    (folder / "pairs.jsonl").write_text(text + "\n")
    return folder


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory):
    texts = [f"What colour is the {t} number {i}? It is {c}." for i, t in enumerate(THINGS * 3) for c in COLOURS]
    return make_tiny_model(tmp_path_factory.mktemp("base") / "tiny", texts, vocab_size=400)


def _dpo(tmp_path, source, output, model, sft_weight: float):
    """8 DPO steps at a high rate on the supplied pairs, with the chosen answer's own loss at ``sft_weight``."""
    config = tmp_path / f"sft-weight-{sft_weight}.yaml"
    config.write_text(f"sft_weight: {sft_weight}\n")
    options = ("--recipe", "dpo", "--base-model", str(model), "--config", str(config), "--max-steps", "8", "--learning-rate", "0.01")
    return run_domain("text", [source], output, *options, "--seq-len", "64")


def test_dpo_on_supplied_pairs_moves_the_weights_and_raises_the_margin(tmp_path, colour_model):
    """The preference term alone (``sft_weight`` 0): on this tiny model the chosen answer's own
    loss, at the recipe's weight, outweighs it in 8 steps (the next test)."""
    source = _pairs(tmp_path, bad_lines=True)
    output = tmp_path / "dpo"
    report = _dpo(tmp_path, source, output, colour_model, sft_weight=0.0)
    training = report["training"]
    assert training["trainer_class"] == "DPOTrainer"
    assert training["weights_moved"] and training["steps_done"] == 8
    assert training["supplied_pairs"] == training["pairs"] > 20 and training["on_policy_pairs"] == 0
    assert training["margin_after"] > training["margin_before"]
    assert training["margin_improved_pairs"] > training["margin_pairs"] // 2
    assert (output / "report.md").is_file() and (output / "model" / "adapter_config.json").is_file()
    reasons = {issue["path"]: issue["reason"] for issue in report["ingest_issues"]}
    last = len(THINGS) * 3
    assert "without 'rejected'" in reasons[f"pairs.jsonl:{last + 1}"]
    assert "equals its rejected" in reasons[f"pairs.jsonl:{last + 2}"]


def test_the_chosen_answers_own_loss_keeps_it_likely_where_plain_dpo_lets_it_fall(tmp_path, colour_model):
    """DPO alone only widens the gap: at a high rate it can push the chosen answer down with the
    rejected one (it did, on automotive values). ``sft_weight`` adds the chosen answer's own loss."""
    source = _pairs(tmp_path)
    chosen_after = {}
    for weight in (0.0, 2.0):
        training = _dpo(tmp_path, source, tmp_path / f"dpo-{weight}", colour_model, sft_weight=weight)["training"]
        assert training["sft_weight"] == weight and training["weights_moved"]
        chosen_after[weight] = training["chosen_logprob_after"]
    assert chosen_after[2.0] > chosen_after[0.0] + 1.0


def test_orpo_is_reference_free_on_the_same_path(tmp_path, colour_model):
    report = run_domain(
        "text", [_pairs(tmp_path)], tmp_path / "orpo", "--recipe", "orpo", "--base-model", str(colour_model), "--max-steps", "3", "--seq-len", "64"
    )
    assert report["training"]["trainer_class"] == "ORPOTrainer" and report["training"]["weights_moved"]
    assert report["recipe"] == "orpo"


def test_the_text_domain_reads_every_preference_form_and_reports_bad_lines_by_line(tmp_path):
    from custom_llm.testing import domain_examples, ingest_domain

    user = {"role": "user", "content": "Colour of the sky?"}
    lines = [
        {"prompt": "Colour of the sky?", "chosen": "Blue.", "rejected": "Green."},
        {"prompt": [user], "chosen": [{"role": "assistant", "content": "Blue."}], "rejected": [{"role": "assistant", "content": "Red."}]},
        {"chosen": [user, {"role": "assistant", "content": "Blue."}], "rejected": [user, {"role": "assistant", "content": "Grey."}]},
        {"prompt": "Colour?", "rejected": "Red."},
        {"prompt": "Colour?", "chosen": "Blue.", "rejected": "Blue. "},
        {
            "chosen": [user, {"role": "assistant", "content": "Blue."}],
            "rejected": [{"role": "user", "content": "Other?"}, {"role": "assistant", "content": "x"}],
        },
        {"prompt": [user, {"role": "assistant", "content": "Blue."}], "chosen": "Blue.", "rejected": "Red."},
    ]
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    ingested = ingest_domain("text", tmp_path)
    assert len(ingested.documents) == 3
    rejected = []
    for document in ingested.documents:
        (example,) = domain_examples("text", document)
        assert example.kind == "instruction" and example.completion == "Blue.\n" and example.messages == (user,)
        rejected.append(example.metadata["rejected"])
    assert rejected == ["Green.\n", "Red.\n", "Grey.\n"]
    reasons = ingested.reasons()
    assert "without 'chosen'" in reasons["pairs.jsonl:4"]
    assert "equals its rejected" in reasons["pairs.jsonl:5"]
    assert "do not share every turn" in reasons["pairs.jsonl:6"]
    assert "ends with an assistant turn" in reasons["pairs.jsonl:7"]


def test_full_weight_dpo_trains_against_a_frozen_copy_of_the_starting_model(tmp_path, colour_model):
    options = ("--recipe", "dpo-full", "--base-model", str(colour_model), "--max-steps", "3", "--seq-len", "64")
    report = run_domain("text", [_pairs(tmp_path)], tmp_path / "full", *options)
    training = report["training"]
    assert training["trainer_class"] == "DPOTrainer" and training["weights_moved"]
    assert training["trainable_parameters"] == training["parameters"]
    assert (tmp_path / "full" / "model" / "model.safetensors").is_file()


def test_on_policy_answers_come_from_the_starting_model_with_the_adapter_switched_off(colour_model):
    """Negatives are the starting model's answers even where the new adapter has trained (--resume),
    and generation then runs without the adapter's products (the CPU's decoding speed)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from custom_llm.training.preference import starting_model

    base = AutoModelForCausalLM.from_pretrained(colour_model)
    ids = torch.arange(12)[None, :]
    with torch.no_grad():
        expected = base(input_ids=ids).logits
    wrapped = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))  # a trained-looking adapter
    with torch.no_grad():
        adapted = wrapped(input_ids=ids).logits
        with starting_model(wrapped):
            asked = wrapped(input_ids=ids).logits
    assert not torch.allclose(adapted, expected)
    assert torch.allclose(asked, expected)
    plain = AutoModelForCausalLM.from_pretrained(colour_model)
    with starting_model(plain), torch.no_grad():  # a model without an adapter (full recipes) is used as it is
        assert torch.allclose(plain(input_ids=ids).logits, expected)


def test_under_a_time_budget_the_margin_is_measured_on_the_pairs_that_fit_its_share(colour_model):
    """On a loaded CPU, measuring the margin on 64 pairs (before, and as long after training) had left
    a budgeted DPO run one step: the measure stops at its deadline (after one pair at least)."""
    import time
    from types import SimpleNamespace

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from custom_llm.training.preference import Pair, pair_logprobs

    model = AutoModelForCausalLM.from_pretrained(colour_model)
    tokenizer = AutoTokenizer.from_pretrained(colour_model)
    run = SimpleNamespace(config=SimpleNamespace(precision="fp32"))
    pairs = [Pair(f"What colour is the {t}? ", "It is red.", "It is blue.", "on-policy") for t in THINGS[:5]]
    everything = pair_logprobs(run, model, tokenizer, pairs)
    assert len(everything) == 5 and len(set(everything)) > 1
    assert pair_logprobs(run, model, tokenizer, pairs, deadline=time.perf_counter() + 3600) == everything
    assert pair_logprobs(run, model, tokenizer, pairs, deadline=time.perf_counter() - 1) == everything[:1]
