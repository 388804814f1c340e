"""The GGUF writer: a tiny Llama/Mistral written to GGUF comes back through transformers' own GGUF
loader as the same model (same logits, within the file type's precision) and the same tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from custom_llm.data.tokenization import train_bpe_tokenizer
from custom_llm.deploy.gguf_writer import write_gguf
from custom_llm.testing import make_tiny_gguf

gguf = pytest.importorskip("gguf")  # not a declared dependency of the project: writing GGUF needs it installed

TEXTS = [f"The quick brown fox {i} jumps over the lazy dog; def f(x): return x * {i} # ünïcödé" for i in range(60)]
SAMPLE = "the lazy fox <|user|> returns x * 7, ünïcödé!"
TEMPLATE = "{% for message in messages %}<|user|>{{ message['content'] }}<|endoftext|>{% endfor %}"


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    tokenizer = train_bpe_tokenizer(iter(TEXTS), 512, ["<|user|>"])
    tokenizer.chat_template = TEMPLATE
    return tokenizer


def tiny_model(tokenizer: Any, architecture: str, tied: bool = False) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM

    config_class, model_class = {"llama": (LlamaConfig, LlamaForCausalLM), "mistral": (MistralConfig, MistralForCausalLM)}[architecture]
    torch.manual_seed(0)
    config = config_class(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=tied,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model_class(config).eval()


def load(path: Path) -> tuple[Any, Any]:
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name).eval()
    return model, AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


def logits(model: Any, ids: list[int]) -> Any:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits


@pytest.mark.parametrize("architecture", ["llama", "mistral"])
@pytest.mark.parametrize(
    ("file_type", "tied"), [("f32", False), ("f32", True), ("f16", False), ("q8_0", False), ("q8_0", True), ("q5_0", True), ("q4_0", False)]
)
def test_logits_survive_the_round_trip(tmp_path: Path, tokenizer: Any, architecture: str, file_type: str, tied: bool) -> None:
    model = tiny_model(tokenizer, architecture, tied)
    path = write_gguf(model, tokenizer, tmp_path / "model.gguf", file_type)
    loaded, _ = load(path)
    assert loaded.config.tie_word_embeddings is tied
    assert (loaded.config.hidden_size, loaded.config.num_hidden_layers, loaded.config.num_key_value_heads) == (32, 2, 2)
    ids = tokenizer(SAMPLE)["input_ids"]
    expected, got = logits(model, ids), logits(loaded, ids)
    difference = (expected - got).abs().max().item()
    if file_type == "f32":
        assert difference < 1e-4
    elif file_type == "f16":
        assert difference < 1e-2
    elif file_type == "q8_0":
        assert difference / expected.abs().max().item() < 0.1
    else:  # 4 and 5 bits a weight: the tiny random model's logits move more, yet stay the same model
        assert difference / expected.abs().max().item() < 0.3
        assert torch.corrcoef(torch.stack([expected.flatten(), got.flatten()]))[0, 1] > 0.95


def test_layout_follows_llama_cpp(tmp_path: Path, tokenizer: Any) -> None:
    """llama.cpp's names and types: norms stay f32 in a quantized file, tied models have no output.weight."""
    path = write_gguf(tiny_model(tokenizer, "mistral", tied=True), tokenizer, tmp_path / "model.gguf", "q8_0")
    reader = gguf.GGUFReader(path)
    types = {tensor.name: tensor.tensor_type for tensor in reader.tensors}
    assert "output.weight" not in types
    assert types["token_embd.weight"] == gguf.GGMLQuantizationType.Q8_0
    assert types["blk.1.attn_q.weight"] == gguf.GGMLQuantizationType.Q8_0
    assert types["blk.1.attn_norm.weight"] == types["output_norm.weight"] == gguf.GGMLQuantizationType.F32
    assert set(types) >= {f"blk.0.{name}.weight" for name in ("attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down", "ffn_norm")}
    architecture = reader.fields["general.architecture"]
    assert bytes(architecture.parts[architecture.data[0]]).decode() == "llama"
    assert not (tmp_path / "model.gguf.partial").exists()


@pytest.mark.parametrize("tied", [True, False])
def test_block_quantizations_keep_the_output_layer_at_q8_0(tmp_path: Path, tokenizer: Any, tied: bool) -> None:
    """q4_0 and q5_0 as llama-quantize writes them: the output layer (the token embedding when tied) at
    q8_0 (its q6_K's fallback at rows that are not a multiple of 256), every other matrix in the type."""
    for file_type, block in (("q4_0", gguf.GGMLQuantizationType.Q4_0), ("q5_0", gguf.GGMLQuantizationType.Q5_0)):
        path = write_gguf(tiny_model(tokenizer, "llama", tied=tied), tokenizer, tmp_path / f"{file_type}.gguf", file_type)
        reader = gguf.GGUFReader(path)
        types = {tensor.name: tensor.tensor_type for tensor in reader.tensors}
        output = "token_embd.weight" if tied else "output.weight"
        assert types[output] == gguf.GGMLQuantizationType.Q8_0
        if not tied:
            assert types["token_embd.weight"] == block
        assert {types[f"blk.{i}.{name}.weight"] for i in (0, 1) for name in ("attn_q", "attn_v", "ffn_down")} == {block}
        assert types["output_norm.weight"] == gguf.GGMLQuantizationType.F32
        file_type_field = reader.fields["general.file_type"]
        assert int(file_type_field.parts[file_type_field.data[0]][0]) == int(getattr(gguf.LlamaFileType, f"MOSTLY_{file_type.upper()}"))


@pytest.mark.parametrize("tied", [True, False])
def test_block_quantizations_are_llama_cpps_own(tmp_path: Path, tokenizer: Any, tied: bool) -> None:
    """The writer's q8_0, q5_0 and q4_0 files hold, tensor for tensor, the bytes llama.cpp's own
    quantizer (llama-quantize) makes from the same f32 file, output layer included."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (optional: pip install 'custom-llm[llamacpp]')")
    import numpy as np

    from custom_llm.deploy.gguf_quantize import quantize

    model = tiny_model(tokenizer, "llama", tied=tied)
    source = write_gguf(model, tokenizer, tmp_path / "f32.gguf", "f32")
    for file_type in ("q8_0", "q5_0", "q4_0"):
        ours = gguf.GGUFReader(write_gguf(model, tokenizer, tmp_path / f"{file_type}.gguf", file_type))
        quantize(source, tmp_path / f"llama-{file_type}.gguf", file_type)
        theirs = {tensor.name: tensor for tensor in gguf.GGUFReader(tmp_path / f"llama-{file_type}.gguf").tensors}
        assert {t.name for t in ours.tensors} == set(theirs)
        for tensor in ours.tensors:
            assert tensor.tensor_type == theirs[tensor.name].tensor_type, (file_type, tensor.name)
            assert np.array_equal(np.asarray(tensor.data), np.asarray(theirs[tensor.name].data)), (file_type, tensor.name)


def test_tokenizer_survives_the_round_trip(tmp_path: Path, tokenizer: Any) -> None:
    path = write_gguf(tiny_model(tokenizer, "llama"), tokenizer, tmp_path / "model.gguf")
    _, loaded = load(path)
    for text in (SAMPLE, "  leading spaces\nand\ttabs", "<|endoftext|>x<|pad|>"):
        assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"], text
    ids = tokenizer(SAMPLE)["input_ids"]
    assert tokenizer.convert_tokens_to_ids("<|user|>") in ids  # the special token stayed whole
    assert loaded.decode(ids) == tokenizer.decode(ids) == SAMPLE
    assert (loaded.bos_token_id, loaded.eos_token_id, loaded.pad_token_id) == (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    assert loaded.chat_template == TEMPLATE
    messages = [{"role": "user", "content": "hi"}]
    assert loaded.apply_chat_template(messages, tokenize=False) == tokenizer.apply_chat_template(messages, tokenize=False)


def test_bos_flag_and_padded_vocabulary(tmp_path: Path) -> None:
    """A tokenizer that prepends BOS still does after loading; embedding rows past the tokenizer get placeholder tokens."""
    from tokenizers import processors
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_bpe_tokenizer(iter(TEXTS), 400, [])
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", tokenizer.bos_token_id)]
    )
    config = LlamaConfig(vocab_size=len(tokenizer) + 7, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4)
    path = write_gguf(LlamaForCausalLM(config).eval(), tokenizer, tmp_path / "model.gguf")
    model, loaded = load(path)
    assert model.config.vocab_size == len(tokenizer) + 7
    assert loaded(SAMPLE)["input_ids"] == tokenizer(SAMPLE)["input_ids"]
    assert loaded(SAMPLE)["input_ids"][0] == tokenizer.bos_token_id


def test_make_tiny_gguf(tmp_path: Path) -> None:
    path = make_tiny_gguf(tmp_path, TEXTS, architecture="mistral", file_type="f16", vocab_size=400, chat_template=TEMPLATE)
    assert path == tmp_path / "tiny-mistral.gguf"
    model, loaded = load(path)
    assert loaded.chat_template == TEMPLATE
    assert model.config.vocab_size == len(loaded) <= 400
    assert (model.config.hidden_size, model.config.num_hidden_layers) == (32, 2)
    assert logits(model, loaded(SAMPLE)["input_ids"]).isfinite().all()


def test_unsupported_architecture_is_refused(tmp_path: Path, tokenizer: Any) -> None:
    with pytest.raises(ValueError, match=r"Qwen2ForCausalLM.*LlamaForCausalLM, MistralForCausalLM"):
        make_tiny_gguf(tmp_path, TEXTS, architecture="qwen2")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="q4_k"):
        write_gguf(tiny_model(tokenizer, "llama"), tokenizer, tmp_path / "model.gguf", "q4_k")
