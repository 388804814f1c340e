"""Write a Llama/Mistral model and its byte-level BPE tokenizer as one GGUF file, the format
llama.cpp, Ollama and LM Studio run, laid out the way llama.cpp's ``convert_hf_to_gguf.py`` does so
that transformers' GGUF loader (and llama.cpp) read it back as the same model.

Things a reader relies on that are easy to get wrong:

* llama.cpp stores the rows of ``attn_q``/``attn_k`` permuted (its rotary embedding pairs adjacent
  dimensions, transformers' pairs the two halves); transformers undoes that for ``llama`` files.
* llama.cpp writes Mistral as architecture ``llama`` (same graph); transformers 5 with gguf 0.19
  loads it back as a ``LlamaForCausalLM``. Its ``"mistral" in general.name`` switch only fires when the
  name is exactly ``mistral`` and then fails (gguf-py has no ``mistral`` tensor map), so never use it.
  Neither reader applies Mistral's sliding window, so outputs match up to ``sliding_window`` tokens.
* tied embeddings are signalled by leaving ``output.weight`` out, not by a metadata key.
* special tokens must be typed CONTROL (and plain added tokens USER_DEFINED), or the loaded
  tokenizer cuts them into byte pieces.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SUPPORTED_ARCHITECTURES = ("LlamaForCausalLM", "MistralForCausalLM")
FILE_TYPES = ("f32", "f16", "q8_0", "q5_0", "q4_0")
# llama-quantize keeps the output layer (the token embedding when tied) at q6_K in every type below q8_0, and
# at q8_0 where rows are not a multiple of 256 (SmolLM2's 576): gguf-py writes no q6_K, so q8_0 here always
OUTPUT_FILE_TYPE = {"q5_0": "q8_0", "q4_0": "q8_0"}
GGUF_ARCHITECTURE = "llama"  # llama.cpp's name for both: Mistral is the Llama graph

# GGUF token types (gguf.TokenType): NORMAL, USER_DEFINED (added, not special), CONTROL (special), UNUSED (padding)
_NORMAL, _USER_DEFINED, _CONTROL, _UNUSED = 1, 4, 3, 5

_LAYER_TENSORS = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "input_layernorm": "attn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "post_attention_layernorm": "ffn_norm",
}


def write_gguf(model: Any, tokenizer: Any, path: Path, file_type: str = "f32") -> Path:
    """Write ``model`` (a ``LlamaForCausalLM`` or ``MistralForCausalLM``) and its fast byte-level BPE
    ``tokenizer`` to the GGUF file ``path``, weights in ``file_type`` ("f32", "f16", "q8_0", "q5_0" or
    "q4_0"; norms stay f32 and the output layer q8_0 below q8_0, as llama.cpp's llama-quantize does).
    The file appears complete or not at all. Returns ``path``."""
    import gguf

    config = model.config
    _check_supported(model, config, file_type)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")

    writer = gguf.GGUFWriter(partial, GGUF_ARCHITECTURE)
    try:
        _write_model_metadata(writer, model, config, file_type)
        _write_tokenizer(writer, tokenizer, config)
        output = "token_embd.weight" if _tied(model, config) else "output.weight"
        for name, array in _gguf_tensors(model, config):
            _add_tensor(writer, name, array, OUTPUT_FILE_TYPE.get(file_type, file_type) if name == output else file_type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(partial, path)
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    return path


def _check_supported(model: Any, config: Any, file_type: str) -> None:
    """Refuse what would not come back as the same model, rather than writing a file that silently differs."""
    architecture = type(model).__name__
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise ValueError(f"Cannot write {architecture} as GGUF: supported architectures are {', '.join(SUPPORTED_ARCHITECTURES)}.")
    if file_type not in FILE_TYPES:
        raise ValueError(f"Unknown GGUF file type {file_type!r}: choose one of {', '.join(FILE_TYPES)}.")
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        raise ValueError(f"Cannot write {architecture} with attention or MLP biases as GGUF: the loader drops them.")
    rope_type = _rope_parameters(config).get("rope_type", "default")
    if rope_type != "default":
        raise ValueError(f"Cannot write {architecture} with rope_type {rope_type!r} as GGUF: only the default rotary embedding round-trips.")


def _rope_parameters(config: Any) -> dict[str, Any]:
    """transformers 5 keeps rope settings in ``rope_parameters``; older configs had ``rope_theta``/``rope_scaling``."""
    parameters = dict(getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {})
    if "rope_theta" not in parameters:
        parameters["rope_theta"] = getattr(config, "rope_theta", 10000.0)
    return parameters


def _head_dim(config: Any) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def _tied(model: Any, config: Any) -> bool:
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    if getattr(text_config, "tie_word_embeddings", False):
        return True
    return model.get_output_embeddings().weight is model.get_input_embeddings().weight


def _write_model_metadata(writer: Any, model: Any, config: Any, file_type: str) -> None:
    import gguf

    name = Path(str(getattr(config, "name_or_path", "") or "")).name or f"custom-llm-{config.model_type}"
    if name == "mistral":  # transformers would switch to its mistral reader, which gguf 0.19 cannot serve
        name = "custom-llm-mistral"
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads or config.num_attention_heads)
    writer.add_rope_dimension_count(_head_dim(config))  # the loader reads head_dim from this
    writer.add_rope_freq_base(float(_rope_parameters(config)["rope_theta"]))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(config.vocab_size)
    file_types = {
        "f32": gguf.LlamaFileType.ALL_F32,
        "f16": gguf.LlamaFileType.MOSTLY_F16,
        "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
        "q5_0": gguf.LlamaFileType.MOSTLY_Q5_0,
        "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0,
    }
    writer.add_file_type(int(file_types[file_type]))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _permute(weights: Any, n_head: int, n_head_kv: int) -> Any:
    """llama.cpp's ``LlamaModel.permute``: interleave each head's two rotary halves (transformers' loader reverses it)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _gguf_tensors(model: Any, config: Any) -> list[tuple[str, Any]]:
    """(GGUF name, float32 array) for every weight, in llama.cpp's names and layout."""
    state = {name: tensor.detach().float().cpu().numpy() for name, tensor in model.state_dict().items()}
    n_head = config.num_attention_heads
    n_head_kv = config.num_key_value_heads or n_head
    tensors = [("token_embd.weight", state["model.embed_tokens.weight"])]
    for layer in range(config.num_hidden_layers):
        for hf_name, gguf_name in _LAYER_TENSORS.items():
            array = state[f"model.layers.{layer}.{hf_name}.weight"]
            if gguf_name == "attn_q":
                array = _permute(array, n_head, n_head)
            elif gguf_name == "attn_k":
                array = _permute(array, n_head, n_head_kv)
            tensors.append((f"blk.{layer}.{gguf_name}.weight", array))
    tensors.append(("output_norm.weight", state["model.norm.weight"]))
    if not _tied(model, config):  # no output.weight is how a GGUF says "tied"
        tensors.append(("output.weight", state["lm_head.weight"]))
    return tensors


def _add_tensor(writer: Any, name: str, array: Any, file_type: str) -> None:
    """Store one tensor; 1-D ones (norms) stay f32, and rows a block type cannot split (not a multiple
    of 32) fall back to f16, as llama.cpp does. gguf-py's q8_0, q5_0 and q4_0 are ggml's reference
    quantizers (no importance matrix), so llama.cpp reads the blocks back as it would its own."""
    import numpy as np
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, quants

    array = np.ascontiguousarray(array, dtype=np.float32)
    if array.ndim <= 1 or file_type == "f32":
        writer.add_tensor(name, array)
        return
    block_types = {"q8_0": GGMLQuantizationType.Q8_0, "q5_0": GGMLQuantizationType.Q5_0, "q4_0": GGMLQuantizationType.Q4_0}
    block_type = block_types.get(file_type)
    if block_type is not None and array.shape[-1] % GGML_QUANT_SIZES[block_type][0] == 0:
        writer.add_tensor(name, quants.quantize(array, block_type), raw_dtype=block_type)
        return
    writer.add_tensor(name, array.astype(np.float16))


def _backend_json(tokenizer: Any) -> dict[str, Any]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ValueError(f"Cannot write {type(tokenizer).__name__} as GGUF: a fast (tokenizers-backed) byte-level BPE tokenizer is needed.")
    return json.loads(backend.to_str())


def _pre_tokenizer_name(state: dict[str, Any]) -> str:
    """llama.cpp's ``tokenizer.ggml.pre`` for this pre-tokenizer: the loader rebuilds the text split from it."""
    pre = state.get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True) and not pre.get("add_prefix_space", False):
        return "gpt-2"  # GPT2Tokenizer's own split, which the loader uses when the name is not in its table
    if pre.get("type") == "Sequence":
        steps = pre.get("pretokenizers") or []
        if len(steps) == 2 and steps[0].get("type") == "Split" and steps[1].get("type") == "ByteLevel" and not steps[1].get("use_regex", True):
            regex = (steps[0].get("pattern") or {}).get("Regex")
            try:
                from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_PRE_TOKENIZER_SPLITS
            except ImportError:
                GGUF_PRE_TOKENIZER_SPLITS = {}  # noqa: N806
            for name, split in GGUF_PRE_TOKENIZER_SPLITS.items():
                if split == regex:
                    return name
        name = _llama_cpp_split_name(steps)
        if name:
            return name
    raise ValueError(f"Cannot write this tokenizer as GGUF: its pre-tokenizer {json.dumps(pre)[:200]} has no llama.cpp equivalent.")


def _llama_cpp_split_name(steps: list[dict[str, Any]]) -> str | None:
    """The pre-tokenizer name of a split :mod:`custom_llm.models.gguf_tokenizer` gave a GGUF base
    (llama.cpp's own regex sequence, e.g. SmolLM2's "smollm": digits apart, then GPT-2's split), so
    a run on such a base goes back out as GGUF; the names sharing one sequence split alike in llama.cpp."""
    from custom_llm.models.gguf_tokenizer import LLAMA_CPP_SPLITS

    if not steps or steps[-1].get("type") != "ByteLevel" or steps[-1].get("use_regex", True):
        return None
    regexes = tuple((step.get("pattern") or {}).get("Regex") for step in steps[:-1] if step.get("type") == "Split")
    if len(regexes) != len(steps) - 1:
        return None
    matches = [name for name, split in LLAMA_CPP_SPLITS.items() if split == regexes]
    return "smollm" if "smollm" in matches else (matches[0] if matches else None)


def _write_tokenizer(writer: Any, tokenizer: Any, config: Any) -> None:
    """Vocabulary, merges, token types and special ids under llama.cpp's keys (``tokenizer.ggml.*``)."""
    state = _backend_json(tokenizer)
    model_state = state.get("model") or {}
    if model_state.get("type") != "BPE" or (state.get("decoder") or {}).get("type") != "ByteLevel":
        raise ValueError(f"Cannot write this tokenizer as GGUF: only byte-level BPE is supported, not {model_state.get('type')!r}.")
    if state.get("normalizer") is not None:
        raise ValueError("Cannot write this tokenizer as GGUF: its normalizer has no llama.cpp equivalent.")
    pre = _pre_tokenizer_name(state)

    by_id = {index: token for token, index in tokenizer.get_vocab().items()}
    if by_id and max(by_id) >= config.vocab_size:
        raise ValueError(f"The tokenizer has ids up to {max(by_id)} but the model embeds only {config.vocab_size}: resize the embeddings first.")
    added = {index: token for index, token in tokenizer.added_tokens_decoder.items()}
    tokens, types = [], []
    for index in range(config.vocab_size):
        if index in added:
            tokens.append(added[index].content)
            types.append(_CONTROL if added[index].special else _USER_DEFINED)
        elif index in by_id:
            tokens.append(by_id[index])
            types.append(_NORMAL)
        else:  # embedding rows past the tokenizer (padded vocabularies), named as llama.cpp names them
            tokens.append(f"[PAD{index}]")
            types.append(_UNUSED)
    merges = [merge if isinstance(merge, str) else " ".join(merge) for merge in model_state.get("merges") or []]

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for key, token_id in _special_ids(tokenizer, config).items():
        writer.add_uint32(f"tokenizer.ggml.{key}", token_id)
    probe = tokenizer("a", add_special_tokens=True)["input_ids"]
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    writer.add_add_bos_token(bool(probe) and bos is not None and probe[0] == bos)
    writer.add_add_eos_token(len(probe) > 1 and eos is not None and probe[-1] == eos)
    _write_fim_ids(writer, tokenizer)
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        template = [{"name": name, "template": text} for name, text in template.items()]
    if template:
        writer.add_chat_template(template)


def _write_fim_ids(writer: Any, tokenizer: Any) -> None:
    """llama.cpp's FIM keys (its /infill endpoint lays prefix and suffix out with them), when the
    tokenizer holds a known sentinel set: a FIM-trained run added them."""
    from custom_llm.deploy.tokens import fim_tokens

    found = fim_tokens(tokenizer)
    if found is None:
        return
    for key, token in zip(("fim_pre_token_id", "fim_suf_token_id", "fim_mid_token_id"), found, strict=True):
        writer.add_uint32(f"tokenizer.ggml.{key}", int(tokenizer.convert_tokens_to_ids(token)))


def _special_ids(tokenizer: Any, config: Any) -> dict[str, int]:
    """The tokenizer's special ids, falling back to the model config's (which may hold a list for eos)."""
    ids = {}
    keys = {"bos_token_id": "bos_token_id", "eos_token_id": "eos_token_id", "padding_token_id": "pad_token_id", "unknown_token_id": "unk_token_id"}
    for key, attribute in keys.items():
        value = getattr(tokenizer, attribute, None)
        if value is None:
            value = getattr(config, attribute, None)
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value is not None:
            ids[key] = int(value)
    return ids
