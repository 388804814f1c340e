"""GGUF export of an architecture custom-llm's writer does not know (Gemma 3) through llama.cpp's own
convert_hf_to_gguf.py: a tiny Gemma 3 whose tokenizer came from a Gemma-shaped SentencePiece GGUF,
exported, loaded by llama.cpp and scored against PyTorch on the same token ids; and the one-line
refusal when the converter is not set up. The converter comes from the test setup
(``python -m custom_llm.deploy.llama_cpp_converter``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from spm_vocabulary import write_spm_vocabulary

from custom_llm.deploy.llama_cpp_converter import find_converter

WORDS = ["def", "intelligently", "x", "b", "a", "c", "return", "value", "1", "2"]
TEXTS = [
    "def x():\n    return intelligently + 12\n\n",
    "a b c   value\n\t\tdef b():\n        return a\n",
    "  " + " ".join(WORDS * 3) + "\n" + "    intelligently\n" * 3,
]


def spm_vocabulary(path: Path) -> Path:
    """Gemma 3's tokenizer shape, each word's pieces scored by their order (the base file's stand-in)."""
    pieces = ["▁", *"abcdefghijklmnopqrstuvwxyz0123456789():.,=_+"]
    for word in WORDS:
        pieces += [piece for piece in ("▁" + word[:i] for i in range(1, len(word) + 1)) if piece not in pieces]
    return write_spm_vocabulary(path, pieces)


def tiny_gemma3_run(root: Path) -> tuple[Path, Path]:
    """(a run folder holding a tiny full Gemma 3 model, its base's vocabulary GGUF)."""
    import torch
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    from custom_llm.models.gguf_tokenizer import match_llama_cpp

    vocabulary = spm_vocabulary(root / "base.gguf")
    AutoTokenizer.from_pretrained(root, gguf_file=vocabulary.name).save_pretrained(root / "tokenizer")
    match_llama_cpp(root / "tokenizer", vocabulary)
    tokenizer = AutoTokenizer.from_pretrained(root / "tokenizer")
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        query_pre_attn_scalar=16,
        max_position_embeddings=512,
        sliding_window=512,
        bos_token_id=2,
        eos_token_id=1,
        pad_token_id=0,
    )
    model = Gemma3ForCausalLM(config).eval()
    with torch.no_grad():  # norms away from 0 and a spread of logits, so the two runtimes have something to disagree on
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.normal_(0.0, 0.5)
    run = root / "run"
    model.save_pretrained(run / "model")
    tokenizer.save_pretrained(run / "model")
    (run / "manifest.json").write_text(json.dumps({"base_model_source": {"kind": "gguf", "path": str(vocabulary), "name": "tiny-gemma3"}}))
    return run, vocabulary


@pytest.mark.skipif(find_converter() is None, reason="llama.cpp's converter is not set up (python -m custom_llm.deploy.llama_cpp_converter)")
def test_a_gemma3_run_goes_out_as_gguf_through_llama_cpps_converter(tmp_path):
    """Exported through the converter, the file holds the base file's SentencePiece vocabulary (not
    the converter's byte-level guess), llama.cpp tokenizes as the run's tokenizer does, and its bits
    per byte on the same ids is PyTorch's within 0.5% (f16)."""
    pytest.importorskip("llama_cpp")
    import gguf

    from custom_llm.deploy.export import export_run
    from custom_llm.deploy.run_model import gguf_general_name, load_run_model
    from custom_llm.evaluation.artifact_eval import score_artifact

    run, vocabulary = tiny_gemma3_run(tmp_path)
    model, tokenizer = load_run_model(run)
    for quantization, tolerance in (("f16", 0.005),):
        result = export_run(run, "gguf", quantization=quantization)
        assert result.extra["written_by"] == "llama.cpp's convert_hf_to_gguf.py"
        reader = gguf.GGUFReader(result.gguf)
        assert reader.fields["general.architecture"].contents() == "gemma3"
        assert reader.fields["tokenizer.ggml.model"].contents() == "llama"  # the base's SentencePiece vocabulary
        base_tokens = gguf.GGUFReader(vocabulary).fields["tokenizer.ggml.tokens"].contents()
        tokens = reader.fields["tokenizer.ggml.tokens"].contents()
        assert tokens[: len(base_tokens)] == base_tokens and len(tokens) == len(tokenizer)  # then the tokens the run's tokenizer added
        assert reader.fields["general.name"].contents() == gguf_general_name(run)
        assert (run / "logs" / "export-convert.log").is_file()
        scored = score_artifact(result.gguf, model, tokenizer, TEXTS)
        assert scored["tokenization_same"]["documents"] == len(TEXTS), scored["tokenization_same"]
        change = scored["bits_per_byte"]["change"]
        assert abs(change) < tolerance, (quantization, scored["bits_per_byte"])
        assert scored["top1_agreement"]["value"] > 0.9, scored["top1_agreement"]
        print(quantization, scored["tokens"], scored["bits_per_byte"], scored["top1_agreement"]["value"], scored["seconds"])


def test_without_the_converter_a_gemma3_gguf_export_is_refused_before_any_work(tmp_path, monkeypatch):
    import transformers

    from custom_llm.deploy import llama_cpp_converter
    from custom_llm.deploy.export import export_run
    from custom_llm.deploy.formats import ExportError

    run = tmp_path / "run"
    config = transformers.Gemma3TextConfig(vocab_size=16, hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=1)
    config.architectures = ["Gemma3ForCausalLM"]
    config.save_pretrained(run / "model")
    monkeypatch.setenv(llama_cpp_converter.ENV, str(tmp_path / "nowhere"))
    monkeypatch.setattr(llama_cpp_converter, "default_dir", lambda: tmp_path / "nowhere")
    with pytest.raises(ExportError) as refused:
        export_run(run, "gguf")
    message = str(refused.value)
    assert "\n" not in message and "convert_hf_to_gguf.py" in message and llama_cpp_converter.SETUP in message
    assert not (run / "exports").exists()


def test_a_run_asking_for_gguf_of_a_gemma3_base_is_refused_before_any_work_without_the_converter(tmp_path, monkeypatch):
    from custom_llm.deploy import llama_cpp_converter
    from custom_llm.errors import ConfigError

    monkeypatch.setenv(llama_cpp_converter.ENV, str(tmp_path / "nowhere"))
    monkeypatch.setattr(llama_cpp_converter, "default_dir", lambda: tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="export_formats asks for GGUF of a gemma3 base"):
        llama_cpp_converter.check_run_exports(["hf", "ollama:q8_0"], "gemma3")
    llama_cpp_converter.check_run_exports(["gguf"], "llama")  # custom-llm's own writer: nothing needed
    llama_cpp_converter.check_run_exports(["hf"], "gemma3")  # no GGUF asked for
