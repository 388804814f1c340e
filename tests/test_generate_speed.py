"""`custom-llm generate` decodes with the adapter merged into its base (the same function, fewer
operators per token) and at the thread count measured fastest, not torch's default."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from custom_llm.evaluation import threads
from custom_llm.generation import generate_here, greedy_generate, load_for_generation


def _adapter_folder(base_folder, folder):
    from peft import LoraConfig, get_peft_model

    base = AutoModelForCausalLM.from_pretrained(base_folder)
    config = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)  # B not zero
    adapted = get_peft_model(base, config)
    adapted.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base_folder).save_pretrained(folder)
    return adapted.eval()


def test_an_adapter_is_merged_for_generation_and_answers_the_same(tmp_path, tiny_base_model):
    folder = tmp_path / "run" / "model"
    adapted = _adapter_folder(tiny_base_model, folder)
    model, tokenizer = load_for_generation(tmp_path / "run")
    assert not any("lora" in name for name, _ in model.named_modules())  # plain weights: no adapter layers left
    assert not model.training and next(model.parameters()).dtype == torch.float32
    ids = tokenizer("def main(x):\n    return", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, adapted(ids).logits, atol=1e-4)
    plain = AutoModelForCausalLM.from_pretrained(tiny_base_model).eval()
    with torch.no_grad():
        assert not torch.allclose(model(ids).logits, plain(ids).logits, atol=1e-3)  # the adapter is in it
    assert greedy_generate(model, tokenizer, "def main(", 12) == greedy_generate(adapted, tokenizer, "def main(", 12)


def test_generation_runs_at_the_measured_thread_count(monkeypatch, tmp_path, tiny_base_model):
    folder = tmp_path / "model"
    _adapter_folder(tiny_base_model, folder)
    model, tokenizer = load_for_generation(folder)
    original = torch.get_num_threads()
    torch.set_num_threads(2)  # the tests run on one thread (conftest): start from torch's kind of default
    try:
        monkeypatch.setattr(threads, "fastest_threads", lambda model: 1)
        seen: list[int] = []
        model.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
        generate_here(model, tokenizer, "def main(", 4)
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2  # restored afterwards
    finally:
        torch.set_num_threads(original)
