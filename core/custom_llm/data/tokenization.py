"""The tokenizer: the base model's own, or for the scratch recipe a byte-level BPE trained on the
training split (never on held-out text). Domain special tokens are added where missing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from custom_llm.data.stage_results import SplitResult, TokenizerResult
from custom_llm.data.storage import iter_documents, text_bytes
from custom_llm.run.cache import key_of
from custom_llm.run.run_state import Run

END_OF_TEXT = "<|endoftext|>"
PADDING = "<|pad|>"


def auto_vocab_size(train_bytes: int) -> int:
    """Small corpora get small vocabularies: every token needs enough occurrences to be learned."""
    size = 256 + train_bytes // 150
    return int(max(512, min(16384, size)) // 64 * 64)


def domain_tokens(run: Run, tokenizer: Any) -> list[str]:
    if run.domain.special_tokens is None:
        return []
    tokens: list[str] = []
    for token in run.call_domain("special_tokens", options=run.options, tokenizer=tokenizer) or []:
        if token not in tokens:
            tokens.append(str(token))
    return tokens


def _folder_digest(folder: Path) -> str:
    digest = hashlib.blake2b(digest_size=12)
    for name in sorted(
        (
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "vocab.json",
            "merges.txt",
            "tokenizer.model",
            "chat_template.jinja",
            "chat_template.json",
        )
    ):
        path = folder / name
        if path.is_file():
            digest.update(name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def prepare_tokenizer(run: Run, split: SplitResult) -> TokenizerResult:
    """Train or load the tokenizer (cached) and return it with its cache key."""
    with run.stage("tokenizer") as summary:
        if run.recipe.needs_base_model:
            folder = run.base_folder()
            tokenizer = load_base_tokenizer(folder)
            extra = domain_tokens(run, tokenizer)
            added = add_special_tokens(tokenizer, extra)
            key = key_of("tokenizer", _folder_digest(folder), extra)
            summary.update(key=key, trained=False)
            return TokenizerResult(tokenizer=tokenizer, key=key, added_tokens=tuple(added), trained=False)
        extra = domain_tokens(run, None)
        train_bytes = text_bytes(split.train)  # from the Arrow offsets: a cache hit does not read the text
        vocab = run.config.vocab_size or auto_vocab_size(train_bytes)
        key = key_of("tokenizer", split.key, vocab, extra)
        folder = run.cache.folder("tokenizer", key)
        cached = summary["cached"] = run.cache.hit("tokenizer", key)
        if not cached:
            folder = run.cache.begin("tokenizer", key)
            tokenizer = train_bpe_tokenizer((d.text for d in iter_documents(split.train)), vocab, extra)
            tokenizer.save_pretrained(folder)
            run.cache.commit("tokenizer", key)
        from transformers import PreTrainedTokenizerFast

        tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
        summary.update(key=key, trained=True, vocab_size=len(tokenizer))
    return TokenizerResult(tokenizer=tokenizer, key=key, added_tokens=(), trained=True, cached=cached, vocab_size=len(tokenizer))


def train_bpe_tokenizer(texts: Iterator[str], vocab_size: int, extra_tokens: list[str]) -> Any:
    """A byte-level BPE (GPT-2 style) trained on ``texts``; every byte is representable."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    model = Tokenizer(models.BPE())
    model.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    model.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END_OF_TEXT, PADDING, *extra_tokens],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    model.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=model,
        bos_token=END_OF_TEXT,
        eos_token=END_OF_TEXT,
        pad_token=PADDING,
        extra_special_tokens=list(extra_tokens),
        model_max_length=1_000_000,
    )


def load_base_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if tokenizer.eos_token is None:
        tokenizer.add_special_tokens({"eos_token": END_OF_TEXT})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def add_special_tokens(tokenizer: Any, tokens: list[str]) -> list[str]:
    """Add the tokens the tokenizer lacks; the model's embeddings are resized to match later."""
    vocab = tokenizer.get_vocab()
    missing = [t for t in tokens if t not in vocab]
    if missing:
        tokenizer.add_special_tokens({"extra_special_tokens": missing}, replace_extra_special_tokens=False)
    return missing
