"""What did tuning cost? Bits per byte and greedy line exact match on a general corpus that no
domain trains on, base against tuned, and a retention verdict with a tolerance.

The default corpus is offline on every machine: the documentation that ships inside the Python
interpreter (``pydoc_data.topics``: the language reference's topics, prose and code, about 465 kB).
``general_corpus: PATH`` (a text file, or a folder of them) replaces it with an organization's
own reference set. The corpus is cut into passages of whole lines (``PASSAGE_CHARS``); a seeded
choice of them holding ``GENERAL_BYTES`` times the evaluation plan's fraction (at least one) is
scored, the same passages for base and tuned, so its cost scales with the evaluation budget like
every other evaluator's. A passage whose long lines mostly occur in the training split is left out
(a general corpus that overlaps the training data would not measure forgetting).

The retention verdict: the tuned model's bits per byte may be at most ``retention_tolerance``
(default 0.02: 2%) above the base's; more is a retention failure, shown in the console summary and
the report. The paired bootstrap's verdict is reported beside it.
"""

from __future__ import annotations

import hashlib
import random
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from custom_llm.errors import ConfigError
from custom_llm.evaluation.context import EvalContext
from custom_llm.records import Cases, Document, Evaluator

NAME = "general_ability"
GENERAL_BYTES = 128 * 1024  # scored at a full evaluation (plan fraction 1)
PASSAGE_CHARS = 2000
MIN_LINE_CHARS = 8
PROBE_LINE_CHARS = 30  # lines this long are compared with the training split's
DEFAULT_TOLERANCE = 0.02


def default_corpus_name() -> str:
    return f"pydoc_data.topics (Python {sys.version_info.major}.{sys.version_info.minor} documentation)"


def corpus_texts(setting: str | None) -> list[tuple[str, str]]:
    """(source, text) of the general corpus: ``pydoc_data.topics`` by default, else the file or
    the folder's text files (UTF-8; others are skipped)."""
    if not setting:
        try:
            from pydoc_data.topics import topics
        except ImportError:
            raise ConfigError(
                "this Python has no pydoc_data (its documentation topics, the default general corpus); set general_corpus: PATH"
            ) from None
        return [(f"pydoc_data.topics:{name}", str(topics[name])) for name in sorted(topics)]
    path = Path(setting).expanduser()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
    texts = []
    for file in files:
        try:
            texts.append((str(file.relative_to(path) if path.is_dir() else file.name), file.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, OSError):
            continue
    if not any(text.strip() for _, text in texts):
        raise ConfigError(f"general_corpus {setting!r} holds no UTF-8 text: give a text file or a folder of text files")
    return texts


def _fingerprint(line: str) -> bytes:
    return hashlib.blake2b(line.strip().encode("utf-8"), digest_size=8).digest()


def training_lines(documents: list[Document]) -> set[bytes]:
    """Fingerprints of the training split's lines long enough to tell texts apart."""
    return {_fingerprint(line) for d in documents for line in d.text.splitlines() if len(line.strip()) >= PROBE_LINE_CHARS}


def in_training(text: str, seen: set[bytes]) -> bool:
    """Whether most of the passage's long lines occur in the training split."""
    probes = [_fingerprint(line) for line in text.splitlines() if len(line.strip()) >= PROBE_LINE_CHARS]
    return bool(probes) and sum(p in seen for p in probes) * 2 > len(probes)


def general_documents(setting: str | None, fraction: float, seed: int, training: list[Document]) -> tuple[list[Document], int]:
    """(the passages scored, in corpus order; how many were left out for occurring in training)."""
    from custom_llm.evaluation.retrieval import chunk_documents

    whole = [Document(text=text, source=source) for source, text in corpus_texts(setting)]
    seen = training_lines(training)
    passages = [Document(text=p.text, source=p.source) for p in chunk_documents(whole, PASSAGE_CHARS)]
    kept = [p for p in passages if not in_training(p.text, seen)]
    budget = GENERAL_BYTES * min(1.0, max(fraction, 0.0))
    order = list(range(len(kept)))
    random.Random(seed).shuffle(order)
    chosen: set[int] = set()
    held = 0
    for index in order:
        size = len(kept[index].text.encode("utf-8"))
        if not chosen or held + size <= budget:
            chosen.add(index)
            held += size
    return [kept[i] for i in sorted(chosen)], len(passages) - len(kept)


def line_spans(text: str) -> list[tuple[int, int]]:
    """Every line of at least ``MIN_LINE_CHARS`` characters, from its first non-blank character."""
    spans, position = [], 0
    for line in text.split("\n"):
        stripped = line.strip()
        if len(stripped) >= MIN_LINE_CHARS:
            start = position + len(line) - len(line.lstrip())
            spans.append((start, position + len(line.rstrip())))
        position += len(line) + 1
    return spans


def evaluate_general(ctx: EvalContext) -> Mapping[str, Any]:
    """Bits per byte of every chosen passage and greedy exact match of each of its lines, from one
    teacher-forced pass per passage (``EvalContext.predictions``)."""
    import math

    setting = ctx.settings.get("general_corpus")
    fraction = float(ctx.settings.get("evaluation_fraction", 1.0))
    started = time.perf_counter()
    documents, left_out = general_documents(setting, fraction, ctx.seed, ctx.training_documents())
    # choosing the passages reads the whole corpus and training split: paid once, not per case scored (a calibration leaves it out)
    ctx._memo["once-seconds"] = ctx._memo.get("once-seconds", 0.0) + time.perf_counter() - started
    bits, sizes, lines = [], [], []
    for document in documents:
        passes = ctx.predictions(document)
        bits.append(passes.nll / math.log(2))
        sizes.append(passes.n_bytes)
        lines += [score.exact for score in ctx.score_spans(document, line_spans(document.text), stop="\n")]
    metrics: dict[str, Any] = {
        "bits_per_byte": Cases(bits, sizes),
        "examples": len(documents),
        "left_out_in_training": left_out,
    }
    if lines:
        metrics["line_exact_match"] = Cases(lines)
        metrics["line_examples"] = len(lines)
    return metrics


EVALUATOR = Evaluator(
    name=NAME,
    description="Bits per byte and line exact match on a general corpus no domain trains on (default: the Python documentation topics).",
    evaluate=evaluate_general,
    lower_is_better=("bits_per_byte",),
)


def evaluation_settings(config: Any, fraction: float) -> dict[str, Any]:
    """What the general-ability evaluator reads from ``EvalContext.settings`` besides training's settings."""
    return {"general_corpus": getattr(config, "general_corpus", None), "evaluation_fraction": fraction}


def retention_verdict(base_bpb: float, tuned_bpb: float, tolerance: float = DEFAULT_TOLERANCE) -> dict[str, Any]:
    """Whether the tuned model kept its general ability: its bits per byte at most ``tolerance``
    (relative) above the base's."""
    change = tuned_bpb / base_bpb - 1 if base_bpb > 0 else 0.0
    return {"change": change, "tolerance": tolerance, "failed": change > tolerance}


def general_section(config: Any, comparison: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The report's general-ability figures and retention verdict, from the comparison rows."""
    rows = {r["metric"]: r for r in comparison if r["evaluator"] == NAME}
    bpb = rows.get("bits_per_byte")
    if not bpb or bpb.get("base") is None or bpb.get("tuned") is None:
        return None
    tolerance = float(getattr(config, "retention_tolerance", DEFAULT_TOLERANCE))
    verdict = retention_verdict(float(bpb["base"]), float(bpb["tuned"]), tolerance)
    corpus = getattr(config, "general_corpus", None) or default_corpus_name()
    examples = rows.get("examples", {}).get("tuned")
    lines = rows.get("line_exact_match")
    section = {
        "corpus": str(corpus),
        "passages": int(examples or 0),
        "cases": bpb.get("n"),
        "base_bits_per_byte": bpb["base"],
        "tuned_bits_per_byte": bpb["tuned"],
        "p_value": bpb.get("p_value"),
        "verdict": bpb.get("verdict"),
        "line_exact_match": None
        if not lines
        else {"base": lines["base"], "tuned": lines["tuned"], "n": lines.get("n"), "verdict": lines.get("verdict")},
        **verdict,
    }
    section["summary"] = retention_line(section)
    return section


def retention_line(section: dict[str, Any]) -> str:
    """The console's and the report's one line on general ability."""
    head = "RETENTION FAILURE" if section["failed"] else "General ability retained"
    p = section.get("p_value")
    shown = "p < 0.001" if p is not None and p < 0.001 else f"p = {p:.3f}"
    test = f"; paired test: {section['verdict']}, {shown}" if p is not None and section.get("verdict") else ""
    lines = section.get("line_exact_match")
    exact = f"; line exact match {lines['base']:.4f} -> {lines['tuned']:.4f} on {lines['n'] or 0:,} lines ({lines['verdict']})" if lines else ""
    return (
        f"{head}: general corpus {section['corpus']} ({section['passages']:,} passages), bits per byte "
        f"{section['base_bits_per_byte']:.4f} -> {section['tuned_bits_per_byte']:.4f} ({section['change']:+.1%}, tolerance "
        f"+{section['tolerance']:.0%}){test}{exact}."
    )


def general_lines(section: dict[str, Any] | None) -> list[str]:
    """report.md's section."""
    if not section:
        return []
    return [
        "",
        "## General ability: what did tuning cost?",
        "",
        f"Scored on {section['passages']:,} passages of a general corpus no domain trains on ({section['corpus']}), the same for base and tuned; "
        f"the tuned model may need at most {section['tolerance']:.0%} more bits per byte than the base (retention_tolerance; "
        "docs/concepts.md#general-ability). Its rows are `general_ability` in the table above.",
        "",
        section["summary"],
    ]
