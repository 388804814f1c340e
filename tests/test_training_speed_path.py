"""The fast LoRA path computes what the plain path computes: the chunked loss against transformers'
own loss and gradients, frozen weights held in bf16 against autocast's recast, the warm-up that
never starts at rate 0, a divergence that stops training, and a run that moved nothing."""

from __future__ import annotations

import copy
import json
import math
import re
from types import SimpleNamespace

import pytest
import torch

from custom_llm.errors import TrainingError
from custom_llm.models.loading import hold_frozen_in_bf16
from custom_llm.training import callbacks, lm_loss, steps


def tiny_llama(tied: bool = True) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    shape = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2}
    config = LlamaConfig(vocab_size=700, tie_word_embeddings=tied, **shape)
    return LlamaForCausalLM(config)


def packed_batch() -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    ids = torch.randint(0, 700, (2, 48))
    labels = ids.clone()
    labels[0, :6] = lm_loss.IGNORE
    positions = torch.arange(48).repeat(2, 1)
    positions[1, 30:] = torch.arange(18)  # a second document in the second block
    return {"input_ids": ids, "labels": labels, "position_ids": positions}


def gradients(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}


def assert_same_loss_and_gradients(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The chunked loss and its gradients against transformers' own, in fp32; returns the gradients."""
    reference = model(**batch, use_cache=False).loss
    reference.backward()
    expected = gradients(model)
    model.zero_grad()
    total, count = lm_loss.summed_loss(model, batch)
    (total / count).backward()
    assert count == int((batch["labels"][:, 1:] != lm_loss.IGNORE).sum())
    assert float(total / count) == pytest.approx(float(reference), rel=1e-6)
    for name, grad in gradients(model).items():
        assert torch.allclose(grad, expected[name], atol=1e-6, rtol=1e-4), name
    return expected


@pytest.mark.parametrize("tied", [True, False])
def test_chunked_loss_and_gradients_equal_transformers_in_fp32(tied, monkeypatch):
    monkeypatch.setattr(lm_loss, "chunk_positions", lambda vocabulary, chunk_bytes: 17)  # many chunks, one of them partial
    assert_same_loss_and_gradients(tiny_llama(tied), packed_batch())


def test_chunked_loss_under_bf16_autocast_stays_within_bf16_rounding():
    model, batch = tiny_llama(), packed_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        reference = model(**batch, use_cache=False).loss
        total, count = lm_loss.summed_loss(model, batch)
    assert float(total / count) == pytest.approx(float(reference), rel=1e-3)


def test_trainable_token_rows_of_a_tied_output_layer_get_transformers_gradients():
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_llama(), LoraConfig(r=4, target_modules="all-linear", trainable_token_indices=[3, 5]))
    assert lm_loss.output_weight(model.get_base_model().get_output_embeddings()) is not None  # the fused path, not the fallback
    expected = assert_same_loss_and_gradients(model, packed_batch())
    assert any("trainable_tokens_delta" in name for name in expected)


def test_any_other_output_module_takes_the_checkpointed_chunks(monkeypatch):
    monkeypatch.setattr(lm_loss, "output_weight", lambda head: None)
    assert_same_loss_and_gradients(tiny_llama(), packed_batch())


def test_frozen_weights_in_bf16_give_autocast_s_numbers():
    from peft import LoraConfig, get_peft_model

    base = tiny_llama()
    fp32 = get_peft_model(copy.deepcopy(base), LoraConfig(r=4, target_modules="all-linear"))
    held = copy.deepcopy(fp32)
    converted = hold_frozen_in_bf16(held)
    assert converted == 2 * 7  # every projection of both layers; the tied output layer stays
    assert held.get_base_model().lm_head.weight.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in held.parameters() if p.requires_grad)
    batch = packed_batch()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        a = fp32(**batch, use_cache=False).loss
        b = held(**batch, use_cache=False).loss
    assert float(a) == float(b)


def test_the_first_step_never_runs_at_rate_zero():
    assert steps.cosine_factor(0, 1, 0.05) > 0
    assert steps.cosine_factor(0, 300, 0.05) > 0
    rates = [steps.cosine_factor(step, 300, 0.05) for step in range(16)]  # 15 warm-up steps, then the peak
    assert rates == sorted(rates) and rates[-1] <= 1.0  # warm-up rises
    assert steps.cosine_factor(300, 300, 0.05) == pytest.approx(0.0)


def test_a_non_finite_loss_stops_training_before_it_is_saved(tmp_path):
    guard = callbacks.DivergenceGuard()
    control = SimpleNamespace(should_training_stop=False, should_evaluate=True, should_save=True)
    guard.check(SimpleNamespace(global_step=3), control, {"loss": 2.1})
    assert not control.should_training_stop
    guard.check(SimpleNamespace(global_step=4), control, {"loss": math.nan})
    assert control.should_training_stop and not control.should_save and not control.should_evaluate
    run = SimpleNamespace(output=tmp_path, training={"learning_rate": 0.5}, config=SimpleNamespace(precision="auto"))
    with pytest.raises(TrainingError, match=r"step 4: the training loss became nan .*no checkpoint"):
        guard.raise_if_diverged(run)


def test_a_run_that_moved_nothing_says_why():
    model = tiny_llama()
    before = callbacks.weight_fingerprint(model)
    assert callbacks.unchanged_reason(before, callbacks.weight_fingerprint(model), 0, []) == "no optimizer step ran"
    reason = callbacks.unchanged_reason(before, before, 1, [{"learning_rate": 0.0, "loss": 2.0}])
    assert reason == "the learning rate was 0 at each of its 1 steps"
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    assert callbacks.unchanged_reason(before, callbacks.weight_fingerprint(model), 1, []) is None


def test_progress_shows_a_dash_until_there_is_a_loss():
    assert callbacks._shown(None) == "-"
    assert callbacks._shown(2.34567) == "2.346"


@pytest.mark.slow
def test_a_run_that_does_not_move_the_model_fails_in_one_line_and_in_the_registry(tmp_path, text_corpus):
    """Learning rate 0: the report is written (base and tuned identical), the command says why in
    one line and exits non-zero, and the run registry marks the run failed."""
    from click.testing import CliRunner

    from custom_llm.cli import main
    from custom_llm.run_registry.store import RunStore
    from custom_llm.testing import TINY_RUN_OPTIONS

    output = tmp_path / "run"
    arguments = ["run", "--source", str(text_corpus), "--output", str(output), "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(main, [*arguments, *TINY_RUN_OPTIONS, "--learning-rate", "0"], env={"COLUMNS": "200"})
    assert result.exit_code != 0
    assert re.search(r"error: training did not change the model: the learning rate was 0 at each of its \d+ steps", result.output), result.output
    assert "Traceback" not in result.output
    assert (output / "report.md").is_file()
    training_record = json.loads((output / "metrics" / "training.json").read_text())
    assert training_record["weights_moved"] is False and training_record["mfu"] >= 0
    rows = [row for row in RunStore().list_runs() if row.output == str(output)]
    assert rows and rows[0].status == "failed"
