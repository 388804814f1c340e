"""The built-in training recipes: scratch (the embedded default), lora, full and qlora."""

from __future__ import annotations

from custom_llm import hookimpl
from custom_llm.errors import ConfigError
from custom_llm.records import Recipe

_COMMON = {"warmup_ratio": 0.05, "patience": 3, "gradient_accumulation_steps": 1}


def _check_qlora() -> None:
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        raise ConfigError("recipe 'qlora' needs a CUDA GPU (4-bit weights run only there); use --recipe lora on this machine.")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError("recipe 'qlora' needs bitsandbytes: pip install bitsandbytes, or use --recipe lora.")


def _check_trl() -> None:
    import importlib.util

    if importlib.util.find_spec("trl") is None:
        raise ConfigError("the dpo, orpo and grpo recipes train with TRL: pip install 'custom-llm[preference]' (trl, Python 3.11+).")


# LoRA, as the lora recipe; preference and reward defaults measured to move a tiny model in a few steps and
# kept at the values TRL's documentation uses for LoRA (beta 0.1 for DPO and ORPO; 4 samples per GRPO prompt);
# dpo adds the chosen answer's own loss at weight 1 (sft_weight): without it a LoRA DPO stage at a rate that moves
# the model in minutes pushed the rejected answers down and the exact values with them (docs/performance.md)
_PREFERENCE = {"learning_rate": 5e-5, "batch_size": 4, "epochs": 1.0, "beta": 0.1, "max_pairs": 256}
_DPO = {**_PREFERENCE, "sft_weight": 1.0}
_GRPO = {
    "learning_rate": 1e-5,
    "batch_size": 4,
    "epochs": 1.0,
    "num_generations": 4,
    "max_completion_length": 64,
    "temperature": 1.0,
    "max_pairs": 256,
}


@hookimpl
def register_recipes(register):
    register(
        Recipe(
            name="scratch",
            description="A small Mistral-architecture model built from a config and trained from scratch, sized to the corpus.",
            defaults={**_COMMON, "learning_rate": 2e-3, "batch_size": 8, "seq_len": 256, "epochs": 40.0, "weight_decay": 0.1, "max_steps_cap": 400},
        )
    )
    lora = {
        **_COMMON,
        "learning_rate": 2e-4,
        "batch_size": 8,
        "seq_len": 512,
        "epochs": 2.0,
        "weight_decay": 0.0,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.0,  # measured: dropout cost about 10% of a LoRA step on CPU and a minutes-long run underfits anyway
        "lora_targets": ["all-linear"],
    }
    register(Recipe(name="lora", description="LoRA adapters (peft) on a local base model.", defaults=lora, needs_base_model=True, adapter="lora"))
    register(
        Recipe(
            name="full",
            description="Full fine-tuning of every weight of a local base model.",
            defaults={**_COMMON, "learning_rate": 5e-5, "batch_size": 8, "seq_len": 512, "epochs": 2.0, "weight_decay": 0.01},
            needs_base_model=True,
        )
    )
    for name, description, defaults in (
        (
            "dpo",
            "Direct preference optimization (TRL's DPOTrainer) with LoRA: chosen over rejected answers, against the starting model.",
            _DPO,
        ),
        ("orpo", "Odds-ratio preference optimization (TRL's ORPOTrainer) with LoRA: reference-free, the chosen answer's loss included.", _PREFERENCE),
        ("grpo", "Group relative policy optimization (TRL's GRPOTrainer) with LoRA: sampled answers scored by the domain's reward.", _GRPO),
    ):
        register(
            Recipe(
                name=name,
                description=description,
                defaults={**lora, **defaults},
                needs_base_model=True,
                adapter="lora",
                check=_check_trl,
                trainer=name,
            )
        )
    full_preference = {**_COMMON, "seq_len": 512, "weight_decay": 0.0, **_PREFERENCE, "learning_rate": 5e-6}
    full_dpo = {**full_preference, "sft_weight": _DPO["sft_weight"]}
    for name, trainer in (("dpo-full", "dpo"), ("orpo-full", "orpo")):
        register(
            Recipe(
                name=name,
                description=f"{trainer.upper()} (TRL) on every weight; the reference is a frozen copy of the starting model."
                if trainer == "dpo"
                else "ORPO (TRL) on every weight, reference-free.",
                defaults=full_dpo if trainer == "dpo" else full_preference,
                needs_base_model=True,
                check=_check_trl,
                trainer=trainer,
            )
        )
    register(
        Recipe(
            name="qlora",
            description="LoRA on a 4-bit quantized base model (CUDA and bitsandbytes).",
            defaults=lora,
            needs_base_model=True,
            adapter="lora",
            quantize_4bit=True,
            check=_check_qlora,
        )
    )
