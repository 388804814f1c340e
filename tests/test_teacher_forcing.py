"""The teacher-forced passes keep two numbers per position, computed a chunk of positions at a time:
the output embedding never sees more than a chunk's rows (memory bounded whatever the vocabulary),
and the figures equal today's full-logits path (``position_scores.FULL_LOGITS``) on a tiny model."""

from __future__ import annotations

import random

import numpy as np
import pytest

from custom_llm.evaluation import position_scores
from custom_llm.testing import make_tiny_model

TEXTS = [f"def f{i}(x):\n    return x * {i} + {i % 7}\n" for i in range(200)]
TOLERANCE = 1e-4  # nats per position: the same products, only reduced in another order


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[object, object]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = make_tiny_model(tmp_path_factory.mktemp("tiny"), TEXTS)
    return AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


@pytest.fixture()
def small_chunks(monkeypatch):
    """Chunks of 8 positions, so a tiny vocabulary exercises the chunking."""
    monkeypatch.setattr(position_scores, "CHUNK_BYTES", 1)
    return position_scores.chunk_positions(1)


def head_rows(model) -> tuple[list[int], object]:
    """Rows the output embedding is applied to, call by call."""
    calls: list[int] = []
    handle = model.get_output_embeddings().register_forward_hook(lambda _m, args, _out: calls.append(int(np.prod(args[0].shape[:-1]))))
    return calls, handle


def both_paths(monkeypatch, compute):
    monkeypatch.setattr(position_scores, "FULL_LOGITS", True)
    today = compute()
    monkeypatch.setattr(position_scores, "FULL_LOGITS", False)
    return today, compute()


def test_predict_tokens_matches_full_logits_and_bounds_the_head(tiny, small_chunks, monkeypatch):
    from custom_llm.evaluation.teacher_forcing import predict_tokens

    model, tokenizer = tiny
    text = "".join(TEXTS[:40])  # several overlapping windows of 64
    calls, handle = head_rows(model)
    try:
        monkeypatch.setattr(position_scores, "FULL_LOGITS", True)
        today = predict_tokens(model, tokenizer, text, window=64, context=16)
        today_calls = list(calls)
        calls.clear()
        monkeypatch.setattr(position_scores, "FULL_LOGITS", False)
        new = predict_tokens(model, tokenizer, text, window=64, context=16)
    finally:
        handle.remove()
    assert len(new.ids) > 200
    assert max(today_calls) == 2 * 64  # today's path: the logits of a whole batch of windows at once
    assert max(calls) <= small_chunks  # the new path: never more than a chunk
    assert np.array_equal(today.predicted, new.predicted)
    assert np.abs(today.logprob - new.logprob).max() < TOLERANCE
    assert np.array_equal(today.context, new.context)


def test_score_answers_matches_full_logits_with_a_shared_prefix(tiny, small_chunks, monkeypatch):
    from custom_llm.evaluation.teacher_forcing import score_answers

    model, tokenizer = tiny
    rng = random.Random(0)
    shared = "".join(TEXTS[:3])  # a prompt start of more than SHARED_PREFIX_TOKENS tokens, shared by the first cases
    cases = [(shared + f"def g{i}(x):\n    return", f" x * {rng.randint(0, 9)}") for i in range(6)]
    cases += [(f"def h{i}(y):\n", f"    return y + {i}") for i in range(5)]
    today, new = both_paths(monkeypatch, lambda: score_answers(model, tokenizer, cases, stop="\n", batch_tokens=256))
    assert [s.exact for s in today] == [s.exact for s in new]
    assert [s.matched for s in today] == [s.matched for s in new]
    assert max(abs(a.logprob - b.logprob) for a, b in zip(today, new, strict=True)) < TOLERANCE


def test_score_packed_matches_full_logits(tiny, small_chunks, monkeypatch):
    import torch

    from custom_llm.data.encoding import IGNORE
    from custom_llm.evaluation.scoring import score_packed

    model, tokenizer = tiny
    ids = tokenizer("".join(TEXTS[:30]))["input_ids"][:192]
    blocks = []
    for start in range(0, 192, 64):
        block = torch.tensor(ids[start : start + 64])
        labels = block.clone()
        labels[:5] = IGNORE
        blocks.append({"input_ids": block, "labels": labels, "position_ids": torch.arange(64)})
    today, new = both_paths(monkeypatch, lambda: score_packed(model, blocks, batch_size=2))
    assert today[1] == new[1] == 3 * 63 - 3 * 4
    assert abs(today[0] - new[0]) < TOLERANCE * new[1]


def test_a_lora_model_is_scored_through_its_adapter(tiny, monkeypatch):
    """The body/head split goes through peft's wrapper: the LoRA layers count."""
    import copy

    from peft import LoraConfig, get_peft_model

    from custom_llm.evaluation.teacher_forcing import predict_tokens

    model, tokenizer = tiny
    tuned = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    assert position_scores.split_model(tuned) is not None
    today, new = both_paths(monkeypatch, lambda: predict_tokens(tuned, tokenizer, "".join(TEXTS[:5])))
    base = predict_tokens(model, tokenizer, "".join(TEXTS[:5]))
    assert np.abs(today.logprob - new.logprob).max() < TOLERANCE
    assert np.abs(base.logprob - new.logprob).max() > 1e-3  # the adapter changed the figures: it was applied


def test_soft_capped_logits_are_capped(tiny, monkeypatch):
    """Gemma's final logit soft-cap is applied by the chunked head as by the model's own forward."""
    import copy

    from custom_llm.evaluation.teacher_forcing import predict_tokens

    model, tokenizer = tiny
    capped = copy.deepcopy(model)
    capped.config.final_logit_softcapping = 0.5
    original = type(capped).forward

    def forward(self, *args, **kwargs):  # what Gemma's forward does after its head
        import torch

        output = original(self, *args, **kwargs)
        output.logits = torch.tanh(output.logits / 0.5) * 0.5
        return output

    monkeypatch.setattr(type(capped), "forward", forward)
    today, new = both_paths(monkeypatch, lambda: predict_tokens(capped, tokenizer, "".join(TEXTS[:5])))
    assert np.abs(today.logprob - new.logprob).max() < TOLERANCE
    assert new.logprob[:-1].min() > -np.log(len(tokenizer)) - 1.0 - 1e-6  # within the cap's reach of uniform


def test_chunk_size_bounds_memory_whatever_the_vocabulary():
    for vocab in (512, 49_152, 262_144):
        rows = position_scores.chunk_positions(vocab)
        assert rows * vocab * 4 <= max(position_scores.CHUNK_BYTES, 8 * vocab * 4)
    assert position_scores.chunk_positions(262_144) < position_scores.chunk_positions(49_152)


def test_unknown_split_uses_the_models_own_forward(tiny):
    class Scaled:
        config = type("C", (), {"logit_scale": 2.0})()

        def get_decoder(self):
            return object()

    assert position_scores.split_model(Scaled()) is None


def test_the_thread_probe_takes_a_lora_model_with_trainable_tokens(tiny):
    """The probe runs on the model evaluation gets: a peft model whose embedding is wrapped."""
    import copy

    import torch
    from peft import LoraConfig, get_peft_model

    from custom_llm.evaluation.threads import candidates, fastest_threads, measured_threads

    model, _ = tiny
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], trainable_token_indices={"embed_tokens": [3, 4]})
    tuned = get_peft_model(copy.deepcopy(model), config)
    before = torch.get_num_threads()
    assert fastest_threads(tuned) in candidates(before)
    with measured_threads(tuned) as chosen:
        assert torch.get_num_threads() == chosen
    assert torch.get_num_threads() == before
