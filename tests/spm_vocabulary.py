"""A vocabulary-only GGUF shaped like Gemma 3's tokenizer, shared by the tokenizer and converter tests.

Control tokens, runs of 2-4 spaces, newlines and tabs as USER_DEFINED tokens spelled with the real
characters, byte fallback, and normal pieces scored by their order (earlier pieces merge first)."""

from __future__ import annotations

from pathlib import Path


def write_spm_vocabulary(path: Path, pieces: list[str], model_keys: bool = False) -> Path:
    """Write the vocabulary with ``pieces`` as its normal tokens; ``model_keys`` adds the gemma3
    hyper-parameters transformers' GGUF loader needs to read the file as a (weightless) model."""
    import gguf

    tokens = [("<pad>", 3), ("<eos>", 3), ("<bos>", 3), ("<unk>", 2)]
    tokens += [(" " * n, 4) for n in (2, 3, 4)] + [("\n", 4), ("\n\n", 4), ("\t", 4), ("\t\t", 4)]
    tokens += [(f"<0x{byte:02X}>", 6) for byte in range(256)]
    tokens += [(piece, 1) for piece in pieces]
    writer = gguf.GGUFWriter(str(path), "gemma3")
    if model_keys:
        for key, value in {"context_length": 512, "embedding_length": 32, "block_count": 1, "feed_forward_length": 64}.items():
            writer.add_uint32(f"gemma3.{key}", value)
        for key, value in {"head_count": 2, "head_count_kv": 1, "key_length": 16, "value_length": 16, "sliding_window": 512}.items():
            writer.add_uint32(f"gemma3.attention.{key}", value)
        writer.add_float32("gemma3.attention.layer_norm_rms_epsilon", 1e-6)
        writer.add_float32("gemma3.rope.freq_base", 10000.0)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([token for token, _ in tokens])
    writer.add_token_scores([-float(index) if kind == 1 else 0.0 for index, (_, kind) in enumerate(tokens)])
    writer.add_token_types([kind for _, kind in tokens])
    writer.add_bos_token_id(2)
    writer.add_eos_token_id(1)
    writer.add_unk_token_id(3)
    writer.add_pad_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(False)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
