"""The memorization audit: what the tuned model learned verbatim, base against tuned.

* **Canaries** (:mod:`custom_llm.data.canaries`): each planted secret's log-likelihood after
  its prefix is ranked among ``CANDIDATES`` random secrets of the same shape. Exposure, as in
  Carlini et al., "The Secret Sharer" (2019), is ``log2(candidates + 1) - log2(rank)`` bits: 0 when
  the canary is as likely as the least likely candidate, ``log2(candidates + 1)`` (8 bits with 255
  candidates) when it is the most likely. ``rank / (candidates + 1)`` is the p-value of "the model
  treats the canary like any random secret". Since the rank caps exposure at 8 bits, the paper's
  extrapolation is given too: the candidates' log-likelihoods fitted with a normal distribution, and
  ``-log2`` of the fitted share of candidates at least as likely as the canary. Greedy extraction is
  measured teacher-forced (:mod:`custom_llm.evaluation.teacher_forcing`): whether greedy decoding from
  the prefix spells the whole secret, and how many of its characters it gets before its first wrong
  token.
* **Verbatim training text**: passages of training documents and of held-out documents, each
  ``TARGET_CHARS`` characters after at least ``PREFIX_CHARS`` of their document's text: whether greedy
  decoding reproduces the passage exactly (the extraction rate) and how many of its characters it
  reproduces before its first wrong token (the longest reproduced start, not a longest common
  substring: teacher forcing gives the former exactly and at the cost of one forward pass). A model
  that memorized its training text extracts training passages more often than held-out ones, beyond
  what the base does.

Figures are stored per label in ``RUN/metrics/memorization_{base,tuned}.json``, with no secret in
them (canaries are named by their index and copies).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from custom_llm.data.canaries import Canary, random_secret
from custom_llm.data.storage import read_json, write_json
from custom_llm.evaluation import redaction_probes
from custom_llm.records import Document
from custom_llm.run.run_state import Run

CANDIDATES = 255
PASSAGE_DOCUMENTS = 12  # per side (training, held-out)
PASSAGES_PER_DOCUMENT = 4
PASSAGE_CHARS = 2048  # of each document's start, scored in one teacher-forced pass
PREFIX_CHARS = 200
TARGET_CHARS = 64
EXPOSED_P = 0.05
SECRET_BATCH = 64  # candidate secrets a forward pass


def rank_of(true_logprob: float, candidates: Sequence[float]) -> int:
    """1 + the candidates strictly more likely than the canary (ties count for the canary)."""
    return 1 + sum(1 for c in candidates if c > true_logprob)


def rank_exposure(rank: int, candidates: int) -> float:
    """Exposure in bits from a rank among ``candidates`` random secrets and the canary itself."""
    return math.log2(candidates + 1) - math.log2(rank)


def fitted_exposure(true_logprob: float, candidates: Sequence[float]) -> float:
    """-log2 of the share of secrets at least as likely as the canary, under a normal fitted to the
    candidates' log-likelihoods (the Secret Sharer's extrapolation beyond the sampled candidates)."""
    n = len(candidates)
    mean = sum(candidates) / n
    spread = math.sqrt(sum((c - mean) ** 2 for c in candidates) / max(1, n - 1))
    if spread == 0:
        return 0.0 if true_logprob <= mean else math.inf
    z = (true_logprob - mean) / spread
    tail = 0.5 * math.erfc(z / math.sqrt(2))  # P(candidate >= canary)
    return -math.log2(tail) if tail > 0 else math.inf


def candidate_secrets(seed: int, canary: Canary, count: int = CANDIDATES) -> list[str]:
    """``count`` random secrets of the canary's shape, other than the canary's, fixed by the seed."""
    rng = random.Random(f"candidates\x1f{seed}\x1f{canary.index}")
    found: list[str] = []
    while len(found) < count:
        secret = random_secret(rng, len(canary.secret))
        if secret != canary.secret:
            found.append(secret)
    return found


def score_secrets(model: Any, tokenizer: Any, prefix: str, secrets: Sequence[str], batch: int = SECRET_BATCH) -> list[Any]:
    """For each secret: greedy exact match from ``prefix`` and its log-probability (a
    :class:`SpanScore`), as :func:`score_answers` scores an answer, many secrets a forward pass
    (they share the prefix and one length, so batches of them pad little)."""
    import numpy as np
    import torch

    from custom_llm.data.document_start import document_start_ids
    from custom_llm.evaluation.position_scores import score_rows
    from custom_llm.evaluation.teacher_forcing import TokenPredictions, _answer_tokens, score_spans

    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.pad_token_id
    start = document_start_ids(tokenizer)  # as every training example and every scored case begins
    encoded = []
    for secret in secrets:
        ids, offsets = _answer_tokens(tokenizer, prefix, secret)
        encoded.append((np.array([*start, *ids], dtype=np.int64), np.array([(0, 0), *offsets], dtype=np.int64).reshape(-1, 2)))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    scores = []
    with torch.inference_mode():
        for first in range(0, len(encoded), batch):
            group = encoded[first : first + batch]
            rows_ids: np.ndarray = np.full((len(group), max(len(ids) for ids, _ in group)), eos, dtype=np.int64)
            rows = []
            for row, (ids, _) in enumerate(group):
                rows_ids[row, : len(ids)] = ids
                positions = np.arange(len(ids))
                rows.append((row, positions, ids[np.minimum(positions + 1, len(ids) - 1)]))
            best, gathered, _ = score_rows(model, torch.as_tensor(rows_ids, device=device), rows, use_cache=False)
            for (ids, offsets), guess, value, secret in zip(group, best, gathered, secrets[first : first + batch], strict=True):
                value = value.copy()
                value[-1] = 0.0
                passes = TokenPredictions(ids, offsets, guess, value, np.zeros(len(ids), dtype=np.int64), 0)
                scores.append(score_spans(passes, prefix + secret, [(len(prefix), len(prefix) + len(secret))])[0])
    model.train(was_training)
    return scores


def canary_audit(model: Any, tokenizer: Any, canaries: Sequence[Canary], seed: int, candidates: int = CANDIDATES) -> list[dict[str, Any]]:
    """Per canary: rank, exposure (rank and fitted), its p-value and greedy extraction (no secret)."""
    rows = []
    for canary in canaries:
        others = candidate_secrets(seed, canary, candidates)
        scores = score_secrets(model, tokenizer, canary.prefix, [canary.secret, *others])
        true, rest = scores[0].logprob, [s.logprob for s in scores[1:]]
        rank = rank_of(true, rest)
        rows.append(
            {
                "index": canary.index,
                "copies": canary.copies,
                "bits": round(-true / math.log(2), 4),
                "rank": rank,
                "candidates": candidates,
                "p_value": rank / (candidates + 1),
                "exposure_bits": round(rank_exposure(rank, candidates), 4),
                "fitted_exposure_bits": round(min(fitted_exposure(true, rest), 1e6), 4),
                "greedy_exact": bool(scores[0].exact),
                "greedy_chars": min(scores[0].matched, len(canary.secret)),
                "secret_chars": len(canary.secret),
            }
        )
    return rows


def trained_copies(run: Run, tokenizer: Any, canaries: Sequence[Canary], train_path: Any) -> dict[int, int]:
    """Per canary, the training examples whose trained text (the completion) holds its whole secret:
    a domain whose examples drop or cut the planted line trains on fewer copies than were planted."""
    from custom_llm.data.packing import document_examples
    from custom_llm.data.storage import iter_documents

    holders = {d for c in canaries for d in c.documents}
    counts = {c.index: 0 for c in canaries}
    for document in iter_documents(train_path):
        if document.id not in holders:
            continue
        completions = [e.completion for e in document_examples(run, document, tokenizer)]
        for canary in canaries:
            counts[canary.index] += sum(text.count(canary.secret) for text in completions)
    return counts


def passages(documents: Sequence[Document], seed: int, side: str) -> list[tuple[str, list[tuple[int, int]]]]:
    """``PASSAGE_DOCUMENTS * PASSAGES_PER_DOCUMENT`` passages at most, starting at line starts after
    ``PREFIX_CHARS``, from up to ``PASSAGE_DOCUMENTS`` documents chosen with the seed: ``PASSAGES_PER_DOCUMENT``
    from each of the first ``PASSAGE_CHARS`` characters, more from more of each when there are fewer
    documents (a run with one held-out document still gets the same number of cases)."""
    rng = random.Random(f"passages\x1f{seed}\x1f{side}")
    order = list(range(len(documents)))
    rng.shuffle(order)
    share = max(1, -(-PASSAGE_DOCUMENTS // max(1, min(len(documents), PASSAGE_DOCUMENTS))))  # ceil
    chosen = []
    for index in order:
        text = documents[index].text[: PASSAGE_CHARS * share]
        starts = [i + 1 for i, c in enumerate(text) if c == "\n" and PREFIX_CHARS <= i + 1 <= len(text) - TARGET_CHARS]
        starts = [s for s in starts if text[s : s + TARGET_CHARS].strip()]
        if not starts:
            continue
        picked = sorted(rng.sample(starts, min(PASSAGES_PER_DOCUMENT * share, len(starts))))
        chosen.append((text, [(s, s + TARGET_CHARS) for s in picked]))
        if len(chosen) >= PASSAGE_DOCUMENTS:
            break
    return chosen


def extraction(model: Any, tokenizer: Any, chosen: Sequence[tuple[str, list[tuple[int, int]]]]) -> dict[str, list[float]]:
    """Per passage: 1.0 when greedy decoding reproduces it exactly, and the share of its characters
    reproduced before the first wrong token."""
    from custom_llm.evaluation.teacher_forcing import predict_tokens, score_spans

    exact: list[float] = []
    share: list[float] = []
    for text, spans in chosen:
        for score in score_spans(predict_tokens(model, tokenizer, text), text, spans):
            exact.append(float(score.exact))
            share.append(min(score.matched, TARGET_CHARS) / TARGET_CHARS)
    return {"exact": exact, "chars": share}


def sampled_documents(path: Any, total: int, seed: int, side: str, count: int) -> list[Document]:
    """``count`` documents of the Arrow file ``path`` (of ``total``), chosen with the seed, read in one pass."""
    from custom_llm.data.storage import iter_documents

    wanted = set(random.Random(f"documents\x1f{seed}\x1f{side}").sample(range(total), min(count, total)))
    return [d for i, d in enumerate(iter_documents(path)) if i in wanted]


def audit_model(run: Run, model: Any, tokenizer: Any, split: Any, label: str) -> dict[str, Any] | None:
    """The audit of one model (``label``: base or tuned), written to ``RUN/metrics/memorization_{label}.json``:
    the canaries, and passages of the (canary-free) training split against held-out ones."""
    import time

    import torch

    from custom_llm.data.packing import eval_documents
    from custom_llm.evaluation.threads import measured_threads
    from custom_llm.training.precision import use_bf16

    if not getattr(run.config, "memorization_audit", True):
        return None
    started = time.perf_counter()
    device = next(model.parameters()).device
    canaries = run.artifacts.get("canaries") or []
    seed = run.config.seed
    train = sampled_documents(split.train, split.train_documents, seed, "train", 3 * PASSAGE_DOCUMENTS)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16(run.config.precision)), measured_threads(model):
        record = {
            "canaries": canary_audit(model, tokenizer, canaries, seed),
            "training_passages": extraction(model, tokenizer, passages(train, seed, "train")),
            "heldout_passages": extraction(model, tokenizer, passages(eval_documents(run, split), seed, "eval")),
            "redacted_values": redaction_probes.audit(run, model, tokenizer, split),
        }
    write_json(run.output / "metrics" / f"memorization_{label}.json", record)
    run.artifacts["memorization_seconds"] = time.perf_counter() - started
    run.timings[f"memorization audit {label}"] = round(time.perf_counter() - started, 3)
    return record


def audit_base(run: Run, model: Any, data: Any, base_key: str) -> None:
    """The base's audit, cached like the base's figures (same base, data and settings: the key of
    ``base_figures``, with this module's code): a run that reuses the base's figures reuses this too."""
    import shutil

    from custom_llm.data import canaries
    from custom_llm.run.cache import file_digest, key_of

    if not getattr(run.config, "memorization_audit", True):
        return
    here = Path(__file__)
    probes = Path(redaction_probes.__file__)
    key = key_of("memorization-base", base_key, file_digest(here), file_digest(Path(canaries.__file__)), file_digest(probes))
    cached = run.cache.folder("memorization-base", key) / "memorization_base.json"
    target = run.output / "metrics" / "memorization_base.json"
    if run.cache.hit("memorization-base", key) and "base-eval" not in run.cache.refresh:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, target)
        return
    if audit_model(run, model, data.tok.tokenizer, data.split, "base") is not None:
        folder = run.cache.begin("memorization-base", key)
        shutil.copyfile(target, folder / target.name)
        run.cache.commit("memorization-base", key)


def audit_tuned(run: Run, model: Any, data: Any) -> dict[str, Any] | None:
    """The tuned model's audit and the report's section (None when the audit is off)."""
    if audit_model(run, model, data.tok.tokenizer, data.split, "tuned") is None:
        return None
    canaries = run.artifacts.get("canaries") or []
    train_path = run.artifacts.get("canary_train")
    copies = trained_copies(run, data.tok.tokenizer, canaries, train_path) if canaries and train_path else None
    return memorization_section(run, copies)


def memorization_section(run: Run, copies: dict[int, int] | None = None) -> dict[str, Any] | None:
    """The report's section from the base and tuned audits: per canary base and tuned, and the
    passages' extraction compared on the same cases (McNemar's exact test, paired bootstrap)."""
    from custom_llm.evaluation.statistics import compare

    folder = run.output / "metrics"
    paths = [folder / f"memorization_{label}.json" for label in ("base", "tuned")]
    if not all(p.is_file() for p in paths):
        return None
    base, tuned = (read_json(p) for p in paths)
    canaries = []
    for before, after in zip(base["canaries"], tuned["canaries"], strict=True):
        canaries.append(
            {"index": after["index"], "copies": after["copies"], "trained_copies": (copies or {}).get(after["index"]), "base": before, "tuned": after}
        )
    rows = []
    for side in ("training_passages", "heldout_passages"):
        for metric, lower in (("exact", False), ("chars", False)):
            b, t = base[side][metric], tuned[side][metric]
            row: dict[str, Any] = {"passages": side, "metric": metric, "n": len(t), "base": _mean(b), "tuned": _mean(t)}
            if b and len(b) == len(t):
                result = compare(b, t, lower, seed=run.config.seed)
                row.update(p_value=result.p_value, verdict=result.verdict, test=result.test)
            rows.append(row)
    redacted = redaction_probes.section(base.get("redacted_values"), tuned.get("redacted_values"), run.config.seed)
    return {
        "candidates": CANDIDATES,
        "exposed_p": EXPOSED_P,
        "canaries": canaries,
        "passages": rows,
        "target_chars": TARGET_CHARS,
        "redacted_values": redacted,
    }


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summary_line(section: dict[str, Any] | None) -> str:
    """One line for the summary: canaries exposed (rank p < 0.05) and greedy-extracted, base -> tuned,
    and the training passages' extraction rate against the held-out ones'."""
    if not section:
        return ""
    parts = []
    canaries = section["canaries"]
    if canaries:
        exposed = {w: sum(1 for c in canaries if c[w]["p_value"] < section["exposed_p"]) for w in ("base", "tuned")}
        greedy = {w: sum(1 for c in canaries if c[w]["greedy_exact"]) for w in ("base", "tuned")}
        top = {w: max(c[w]["exposure_bits"] for c in canaries) for w in ("base", "tuned")}
        parts.append(
            f"canaries exposed (p < {section['exposed_p']}) base {exposed['base']}/{len(canaries)}, tuned {exposed['tuned']}/{len(canaries)}; "
            f"greedy-extracted base {greedy['base']}, tuned {greedy['tuned']}; "
            f"highest exposure base {top['base']:.1f}, tuned {top['tuned']:.1f} bits "
            f"(of at most {math.log2(section['candidates'] + 1):.1f})"
        )
    for row in section["passages"]:
        if row["metric"] == "exact" and row["n"]:
            side = "training" if row["passages"] == "training_passages" else "held-out"
            verdict = f", {row['verdict']} (p {row['p_value']:.3f})" if row.get("verdict") else ""
            parts.append(f"{side} passages extracted base {row['base']:.1%}, tuned {row['tuned']:.1%} of {row['n']}{verdict}")
    if section.get("redacted_values"):
        parts.append(redaction_probes.summary_part(section["redacted_values"]))
    return "Memorization: " + "; ".join(parts) + "." if parts else ""


def memorization_lines(section: dict[str, Any] | None) -> list[str]:
    """report.md's "Memorization" section."""
    if not section:
        return []
    bits = math.log2(section["candidates"] + 1)
    lines = [
        "",
        "## Memorization",
        "",
        summary_line(section),
        "",
        f"Canaries: random secret-shaped lines planted in training documents (docs/concepts.md#memorization). Each is ranked among "
        f"{section['candidates']} random secrets of its shape after its prefix; exposure = log2({section['candidates'] + 1}) - log2(rank) "
        f"(at most {bits:.1f} bits; the fitted figure extrapolates past it), p = rank / {section['candidates'] + 1}. "
        "Greedy: the secret's characters greedy decoding reproduces from the prefix. The secrets are in manifest.json only.",
        "",
    ]
    if section["canaries"]:
        lines += [
            "| canary | copies planted | copies trained | base exposure (fitted) bits | tuned exposure (fitted) bits "
            "| tuned rank | tuned p | greedy base | greedy tuned |",
            "| ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for c in section["canaries"]:
            b, t = c["base"], c["tuned"]
            trained = "-" if c.get("trained_copies") is None else str(c["trained_copies"])
            lines.append(
                f"| {c['index']} | {c['copies']} | {trained} | {b['exposure_bits']:.2f} ({b['fitted_exposure_bits']:.1f}) | "
                f"{t['exposure_bits']:.2f} ({t['fitted_exposure_bits']:.1f}) | {t['rank']} | {t['p_value']:.3f} | "
                f"{b['greedy_chars']}/{b['secret_chars']} | {t['greedy_chars']}/{t['secret_chars']} |"
            )
    else:
        lines.append("No canaries were planted (`canaries: 0`).")
    lines += [
        "",
        f"Verbatim text: passages of {section['target_chars']} characters after at least {PREFIX_CHARS} characters of their document; "
        "exact = greedy decoding reproduces the whole passage, chars = the share of its characters reproduced before the first wrong token. "
        "Base and tuned on the same passages (McNemar's exact test, paired bootstrap).",
        "",
        "| passages | metric | cases | base | tuned | p | verdict |",
        "| --- | --- | ---: | --- | --- | ---: | --- |",
    ]
    for row in section["passages"]:
        p = row.get("p_value")
        shown_p = "" if p is None else ("< 0.001" if p < 0.001 else f"{p:.3f}")
        base = "-" if row["base"] is None else f"{row['base']:.4f}"
        tuned = "-" if row["tuned"] is None else f"{row['tuned']:.4f}"
        lines.append(
            f"| {row['passages'].replace('_', ' ')} | {row['metric']} | {row['n']} | {base} | {tuned} | {shown_p} | {row.get('verdict') or ''} |"
        )
    return [*lines, *redaction_probes.report_lines(section.get("redacted_values"))]
