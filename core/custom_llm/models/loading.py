"""Models: the scratch model sized to the corpus, local base models, and peft adapters."""

from __future__ import annotations

from typing import Any

from custom_llm.errors import ConfigError
from custom_llm.run.run_state import Run

# hidden size, layers, attention heads, key/value heads, MLP width
SIZES: dict[str, tuple[int, int, int, int, int]] = {
    "tiny": (64, 2, 4, 2, 192),
    "small": (256, 4, 4, 2, 768),
    "medium": (384, 6, 6, 2, 1152),
    "large": (512, 8, 8, 4, 1536),
}


def scratch_size(config_size: str, train_tokens: int, on_gpu: bool | None = None) -> str:
    """Bigger corpora get bigger models (a small corpus with a big model only memorizes); on a CPU
    ``auto`` stays at ``small`` so the embedded default finishes in minutes (measured on 2 cores:
    small about 4,000 tokens/s, medium 1,700, large 800; docs/performance.md)."""
    if config_size != "auto":
        return config_size
    if on_gpu is None:
        import torch

        on_gpu = torch.cuda.is_available()
    if train_tokens < 400_000 or not on_gpu:
        return "small"
    if train_tokens < 4_000_000:
        return "medium"
    return "large"


def scratch_config(run: Run, tokenizer: Any, train_tokens: int) -> Any:
    from transformers import MistralConfig

    size = scratch_size(run.config.model_size, train_tokens)
    hidden, layers, heads, kv_heads, mlp = SIZES[size]
    return MistralConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=mlp,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=hidden // heads,
        max_position_embeddings=max(int(run.training["seq_len"]), 256),
        # small corpora overfit quickly: attention dropout is the regularizer Mistral offers
        attention_dropout=0.1 if train_tokens < 4_000_000 else 0.0,
        tie_word_embeddings=True,
        sliding_window=None,
        use_cache=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def build_scratch_model(run: Run, tokenizer: Any, train_tokens: int) -> Any:
    """The untrained model; the same seed always gives the same initial weights."""
    import torch
    from transformers import MistralForCausalLM

    torch.manual_seed(run.config.seed)
    return MistralForCausalLM(scratch_config(run, tokenizer, train_tokens))


def load_base_model(run: Run, tokenizer: Any) -> Any:
    """The local base model, its embeddings resized when domain tokens were added."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars: the stage's own progress is shown instead
    kwargs: dict[str, Any] = {"local_files_only": True, "dtype": torch.float32}
    if run.recipe.quantize_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_use_double_quant=True
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(run.base_folder(), **kwargs)
    except (OSError, ValueError) as error:
        raise ConfigError(f"base model {run.config.base_model!r} cannot be loaded: {error}".replace("\n", " ")) from None
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    model.config.use_cache = False
    return model


def wrap_adapter(run: Run, model: Any, added_token_ids: list[int]) -> Any:
    """LoRA adapters on every linear layer (or the configured targets). Embeddings of added tokens
    are trained too (peft's trainable token indices), so new tokens are not left random; not under
    TRL's trainers (dpo, orpo, grpo): their fused output layer reads the head's weight itself and
    fails on peft's wrapper (and would drop its rows' updates), so their added rows keep their
    mean-resized start (a ``--from`` parent that trained them brings them trained)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if run.recipe.quantize_4bit:
        model = prepare_model_for_kbit_training(model)
    targets = run.training.get("lora_targets") or ["all-linear"]
    lora = LoraConfig(
        r=int(run.training["lora_r"]),
        lora_alpha=int(run.training["lora_alpha"]),
        lora_dropout=float(run.training["lora_dropout"]),
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        task_type="CAUSAL_LM",
        trainable_token_indices=(list(added_token_ids) or None) if run.recipe.trainer == "causal" else None,
    )
    wrapped = get_peft_model(model, lora)
    if not run.recipe.quantize_4bit:
        from custom_llm.training.precision import use_bf16

        if use_bf16(run.config.precision):
            hold_frozen_in_bf16(wrapped)
    return wrapped


def hold_frozen_in_bf16(model: Any) -> int:
    """Keep the frozen linear weights in bf16, the dtype autocast computes them in, instead of
    letting autocast recast every fp32 weight at every forward and keep the copy for the backward
    pass (17% of a LoRA step's time on 2 cores; the products are the same numbers, since autocast
    rounds to bf16 the same way). Weights tied to the input embedding stay as they are (the lookup
    reads them in fp32). Returns how many weights were converted."""
    import torch

    tied = model.get_input_embeddings().weight if hasattr(model, "get_input_embeddings") else None
    converted = 0
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if type(module) is torch.nn.Linear and weight is not None and not weight.requires_grad and weight is not tied:
            if weight.dtype == torch.float32:
                module.to(torch.bfloat16)
                converted += 1
    return converted


def count_parameters(model: Any) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
