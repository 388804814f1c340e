"""Helpers for testing plugins: register a plugin for one test, build a tiny local base model,
and run a domain end to end through the real CLI. Core and the bundled plugins use them too."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custom_llm.plugins import Plugins, get_plugins
from custom_llm.records import EvalContext

TINY_RUN_OPTIONS = ("--recipe", "scratch", "--model-size", "tiny", "--seq-len", "64", "--batch-size", "4", "--max-steps", "6", "--quiet")


@contextmanager
def registered_plugin(plugin: object, name: str, plugins: Plugins | None = None) -> Iterator[Plugins]:
    """Register ``plugin`` on the process-wide manager for the duration of a ``with`` block."""
    manager = plugins or get_plugins()
    manager.register(plugin, name=name)
    try:
        yield manager
    finally:
        manager.unregister(name)


def make_tiny_model(folder: Path, texts: Iterable[str], vocab_size: int = 512, extra_tokens: Iterable[str] = ()) -> Path:
    """Save a tiny randomly initialized Llama-architecture model and a BPE tokenizer trained on
    ``texts`` to ``folder``: a stand-in for a real base model, loaded through the same path."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from custom_llm.pipeline.tokenization import train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(iter(list(texts)), vocab_size, list(extra_tokens))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def run_domain(domain: str, sources: Iterable[Path], output: Path, *extra: str) -> dict[str, Any]:
    """``custom-llm run`` through the real CLI (in this process) with tiny settings; returns the
    parsed report.json. Raises AssertionError with the CLI's output when the run fails."""
    from click.testing import CliRunner

    from custom_llm.cli import main

    arguments = ["run", "--domain", domain, "--output", str(output), *TINY_RUN_OPTIONS, *extra]
    for source in sources:
        arguments += ["--source", str(source)]
    result = CliRunner().invoke(main, arguments, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads((output / "report.json").read_text())


def make_tiny_gguf(
    folder: Path,
    texts: Iterable[str],
    architecture: str = "llama",
    file_type: str = "f32",
    vocab_size: int = 512,
    chat_template: str | None = None,
) -> Path:
    """Write a tiny randomly initialized ``architecture`` model (a transformers model type, e.g.
    "llama" or "mistral") with a BPE tokenizer trained on ``texts`` to ``folder/tiny-<architecture>.gguf``:
    a stand-in for a real GGUF release. Types the GGUF writer does not support raise its ValueError."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from custom_llm.pipeline.gguf_writer import write_gguf
    from custom_llm.pipeline.tokenization import train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(iter(list(texts)), vocab_size, [])
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    torch.manual_seed(0)
    config = AutoConfig.for_model(
        architecture, vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    if architecture == "mistral":
        config.sliding_window = None  # GGUF readers ignore it: keep the tiny model identical to what they load
    model = AutoModelForCausalLM.from_config(config).eval()
    return write_gguf(model, tokenizer, folder / f"tiny-{architecture}.gguf", file_type)


def metric_values(metrics: dict[str, Any]) -> dict[str, float]:
    """An evaluator's result with every ``Cases`` replaced by its value, for assertions on figures."""
    from custom_llm.records import Cases

    return {name: value.value if isinstance(value, Cases) else value for name, value in metrics.items()}


@dataclass
class ScriptedContext(EvalContext):
    """An :class:`EvalContext` whose "model" is ``reply``, a function from a prompt to the greedy
    answer, for testing an evaluator's logic without torch: generation returns the reply, and
    :meth:`score_answers` scores it the way the teacher-forced pass scores greedy decoding (exact
    when the reply is the answer, ``matched`` the common prefix). ``prompts`` records every prompt
    generation was asked. The real pass is tested against real generation in core."""

    reply: Callable[[str], str] = lambda prompt: ""
    prompts: list[str] = field(default_factory=list)

    def generate(self, prompt: str, max_new_tokens: int = 64, stop: Iterable[str] = ()) -> str:
        self.prompts.append(prompt)
        return _cut(self.reply(prompt), *stop)

    def score_answers(self, cases: Iterable[tuple[str, str]], stop: str | None = "\n") -> list[Any]:
        from custom_llm.pipeline.teacher_forcing import SpanScore

        scores = []
        for prompt, answer in cases:
            target, said = _cut(answer, stop or ""), _cut(self.reply(prompt), stop or "")
            matched = len(os.path.commonprefix([target, said]))
            scores.append(SpanScore(said == target, 0.0 if said == target else -float(len(target) - matched + 1), len(target),
                                    0, 0, matched, len(target.encode("utf-8")), target))
        return scores


def _cut(text: str, *stops: str) -> str:
    cuts = [text.index(s) for s in stops if s and s in text]
    return text[:min(cuts)] if cuts else text
