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

from custom_llm.evaluation.context import EvalContext
from custom_llm.plugins import Plugins, get_plugins

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

    from custom_llm.data.tokenization import train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(iter(list(texts)), vocab_size, list(extra_tokens))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
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

    from custom_llm.data.tokenization import train_bpe_tokenizer
    from custom_llm.deploy.gguf_writer import write_gguf

    tokenizer = train_bpe_tokenizer(iter(list(texts)), vocab_size, [])
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    torch.manual_seed(0)
    config = AutoConfig.for_model(
        architecture,
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
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
        from custom_llm.evaluation.teacher_forcing import SpanScore

        scores = []
        for prompt, answer in cases:
            target, said = _cut(answer, stop or ""), _cut(self.reply(prompt), stop or "")
            matched = len(os.path.commonprefix([target, said]))
            scores.append(
                SpanScore(
                    said == target,
                    0.0 if said == target else -float(len(target) - matched + 1),
                    len(target),
                    0,
                    0,
                    matched,
                    len(target.encode("utf-8")),
                    target,
                )
            )
        return scores


def _cut(text: str, *stops: str) -> str:
    cuts = [text.index(s) for s in stops if s and s in text]
    return text[: min(cuts)] if cuts else text


@dataclass
class Ingested:
    """What :func:`ingest_domain` read: the discovered files, the documents (prepared, as a run
    stores them, unless ``prepare=False``) and the stage report."""

    files: list[Path]
    documents: list[Any]
    report: Any

    def by_source(self) -> dict[str, Any]:
        return {d.source: d for d in self.documents}

    def reasons(self) -> dict[str, str]:
        """Each left-out file (or line) with its reason."""
        return {issue.path: issue.reason for issue in self.report.issues}


def _domain(domain: str, plugins: Plugins | None) -> tuple[Plugins, Any]:
    """The manager (by default the process-wide one, so a plugin registered with
    :func:`registered_plugin` is found) and its ``domain``."""
    manager = plugins or get_plugins()
    return manager, manager.domains.get(domain)


def _options(entry: Any, changes: dict[str, Any]) -> dict[str, Any]:
    """The option defaults with ``changes``, checked as the CLI checks ``--option`` (unknown keys
    and wrong types raise ConfigError)."""
    from custom_llm.personal_data.preparer import resolve_options

    return resolve_options(entry, changes)


def domain_options(domain: str, plugins: Plugins | None = None, **changes: Any) -> dict[str, Any]:
    """The domain's option defaults with ``changes`` applied (checked as the CLI checks them)."""
    return _options(_domain(domain, plugins)[1], changes)


def ingest_domain(domain: str, source: Path, plugins: Plugins | None = None, prepare: bool = True, **changes: Any) -> Ingested:
    """Discover and ingest ``source`` through the contract exactly as a run does (the domain's own
    functions, failures naming the plugin), then apply the domain's preparers in core's order.
    ``changes`` override the domain's option defaults, checked as ``--option`` is. Without
    ``plugins``, the process-wide manager is used (where :func:`registered_plugin` registers)."""
    from custom_llm.plugin_calls import call_plugin, stream_from_plugin
    from custom_llm.records import StageReport

    manager, entry = _domain(domain, plugins)
    owner = manager.domains.owner(domain)
    options = _options(entry, changes)
    report = StageReport()
    files = list(call_plugin(owner, "discover", entry.discover, source=Path(source), options=options, report=report))
    stream = stream_from_plugin(
        owner,
        "ingest",
        call_plugin(owner, "ingest", entry.ingest, source=Path(source), files=files, options=options, report=report),
        lambda: report.current,
    )
    steps = [p.start(options, report) for p in manager.preparers_for(domain)] if prepare else []
    kept = []
    for document in stream:
        for step in steps:
            document = step(document)
            if document is None:
                break
        if document is not None:
            kept.append(document)
    return Ingested(files, kept, report)


def domain_examples(
    domain: str, document: Any, plugins: Plugins | None = None, seed: int = 0, tokenizer: Any = None, seq_len: int = 256, **changes: Any
) -> list[Any]:
    """The domain's examples for one document, made as a run makes them (before the chat layout)."""
    import random

    from custom_llm.plugin_calls import call_plugin

    manager, entry = _domain(domain, plugins)
    options = _options(entry, changes)
    made = call_plugin(
        manager.domains.owner(domain),
        "make_examples",
        entry.make_examples,
        document=document,
        options=options,
        rng=random.Random(seed),
        tokenizer=tokenizer,
        settings={"seq_len": seq_len, "seed": seed},
    )
    return list(made)


def domain_special_tokens(domain: str, tokenizer: Any = None, plugins: Plugins | None = None, **changes: Any) -> list[str]:
    """The special tokens the domain asks for with this base tokenizer (None: a scratch tokenizer)."""
    from custom_llm.plugin_calls import call_plugin

    manager, entry = _domain(domain, plugins)
    if entry.special_tokens is None:
        return []
    options = _options(entry, changes)
    return list(call_plugin(manager.domains.owner(domain), "special_tokens", entry.special_tokens, options=options, tokenizer=tokenizer))
