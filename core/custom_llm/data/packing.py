"""The tokenize stage: training examples from the training split, and the plain held-out text,
encoded and packed into blocks of ``seq_len`` tokens (cached).

The domain's ``make_examples`` makes each training document's examples (``document_examples``),
laid out for the tokenizer's chat format; they are made and encoded in ``num_proc`` processes
(``custom_llm.data.encoding_pool``), encoded as ``custom_llm.data.encoding`` describes and
packed by ``custom_llm.data.packers``. The held-out documents evaluation uses are packed as
plain text, in this process.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path
from typing import Any

from custom_llm.data.chat import laid_out
from custom_llm.data.document_start import adds_bos, document_start_ids
from custom_llm.data.encoding import document_batches, padding_id
from custom_llm.data.encoding_pool import encoding_workers, resolve_num_proc
from custom_llm.data.packers import PackedSet, pack, pack_encoded
from custom_llm.data.stage_results import PackResult, SplitResult, TokenizerResult
from custom_llm.data.storage import iter_documents, read_json, text_bytes, write_json
from custom_llm.plugin_calls import stream_from_plugin
from custom_llm.records import Document, Example
from custom_llm.run.cache import key_of
from custom_llm.run.progress import progress_bar
from custom_llm.run.run_state import Run

PACK_RULE = "instruction examples longer than a block are left out"  # in the key: packs made while they were cut are not reused


def document_examples(run: Run, document: Document, tokenizer: Any) -> list[Example]:
    """The document's training examples, laid out for training."""
    return [laid_out(example, tokenizer) for example in domain_examples(run, document, tokenizer)]


def domain_examples(run: Run, document: Document, tokenizer: Any, answers: bool = False) -> list[Example]:
    """The examples the domain's ``make_examples`` makes of ``document``, with the seeded rng every
    consumer shares (packing, preference pairs), before any layout. ``answers`` asks for examples
    with one checkable answer (``settings["answers"]``; the preference and reward recipes only, never
    the packer, so the pack cache key is unchanged)."""
    rng = random.Random(f"{run.config.seed}\x1f{document.id}")
    settings: dict[str, Any] = {"seq_len": int(run.training["seq_len"]), "seed": run.config.seed}  # both are in the pack cache key
    if answers:
        settings["answers"] = True
    made = run.call_domain("make_examples", document=document, options=run.options, rng=rng, tokenizer=tokenizer, settings=settings)
    return list(stream_from_plugin(run.domain_plugin, "make_examples", made, lambda: document.source))


def eval_documents(run: Run, split: SplitResult) -> list[Document]:
    """The held-out documents evaluation uses (the first ``max_eval_documents``, a stable choice)."""
    documents: list[Document] = []
    for document in iter_documents(split.eval):
        if len(documents) >= run.config.max_eval_documents:
            break
        documents.append(document)
    return documents


def pack_datasets(run: Run, split: SplitResult, tok: TokenizerResult) -> PackResult:
    """Training examples from the training split and plain held-out text, both packed (cached).
    ``num_proc`` is not part of the key: the packed blocks are the same whatever it is."""
    with run.stage("tokenize") as summary:
        tokenizer = tok.tokenizer
        seq_len = int(run.training["seq_len"])
        # a tokenizer that adds its own BOS starts documents with it (document_start): in the key, so packs that
        # started them with end-of-text are not reused; the others' keys (and caches) are unchanged
        start = ["document start", document_start_ids(tokenizer)] if adds_bos(tokenizer) else []
        key = key_of("pack", PACK_RULE, *start, split.key, tok.key, seq_len, run.options, run.config.seed, run.config.max_eval_documents)
        folder = run.cache.folder("pack", key)
        cached = summary["cached"] = run.cache.hit("pack", key)
        num_proc: int | None = None
        if not cached:
            folder = run.cache.begin("pack", key)
            num_proc = resolve_num_proc(run.config.num_proc, text_bytes(split.train))
            n_train = split.train_documents
            make_examples = functools.partial(document_examples, run, tokenizer=tokenizer)
            # the workers are started before the progress bar's thread, so no thread is running at the fork
            with encoding_workers(num_proc, tokenizer, make_examples) as workers, progress_bar(run.console) as progress:
                task = progress.add_task(f"tokenize and pack ({num_proc} process{'es' if num_proc > 1 else ''})", total=n_train)
                encoded = workers.encode(document_batches(split.train), lambda n: progress.advance(task, n))
                train = pack_encoded(encoded, seq_len, padding_id(tokenizer), folder / "train.arrow")
            held_out = (Example(completion=d.text, doc_id=d.id) for d in eval_documents(run, split))
            evaluation = pack(held_out, tokenizer, seq_len, folder / "eval.arrow")
            write_json(folder / "stats.json", {"train": train.to_json(), "eval": evaluation.to_json()})
            run.cache.commit("pack", key)
            summary["num_proc"] = num_proc
        stats = read_json(folder / "stats.json")
        summary["key"] = key
        summary["examples_too_long"] = stats["train"].get("examples_too_long", 0)
        summary["longest_example"] = stats["train"].get("longest_example", 0)
        _warn_overlong(run, stats["train"], seq_len)
    return PackResult(
        key=key,
        cached=cached,
        train=_packed(folder / "train.arrow", stats["train"]),
        eval=_packed(folder / "eval.arrow", stats["eval"]),
        num_proc=num_proc,
    )


def _warn_overlong(run: Run, stats: dict[str, Any], seq_len: int) -> None:
    """Say, in one line, that instruction examples were left out for being longer than a block."""
    count = stats.get("examples_too_long", 0)
    if count:
        run.report("tokenize").count("examples left out: longer than a block", count)
        if run.console is not None:
            run.console.print(
                f"[yellow]{count} instruction example(s) of {count + stats['examples']} were left out: prompt and answer "
                f"exceed a block of {seq_len} tokens (the longest holds {stats['longest_example']}), and a cut answer would "
                "train without its question. Raise --seq-len, or fit the context to settings['seq_len'] in make_examples.",
                soft_wrap=True,
            )


def _packed(path: Path, stats: dict[str, Any]) -> PackedSet:
    return PackedSet(
        path,
        stats["blocks"],
        stats["real_tokens"],
        stats["target_tokens"],
        stats["bytes"],
        stats["examples"],
        stats["seq_len"],
        stats.get("examples_too_long", 0),
        stats.get("longest_example", 0),
    )
