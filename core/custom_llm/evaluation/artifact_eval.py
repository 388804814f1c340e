"""Does the file we ship behave like the model we measured? An exported GGUF scored through
llama.cpp itself (``llama-cpp-python``, the optional ``llamacpp`` extra) on the same teacher-forced
cases as the run's PyTorch model.

The held-out documents the run evaluates on (up to ``MAX_BYTES`` of them) are tokenized once with
the run's tokenizer, its document start first (BOS where it adds one, else end-of-text), and passed through both runtimes in the same
windows (:func:`custom_llm.evaluation.teacher_forcing.predict_tokens`): per position the most likely
next token and the true token's log-probability. From these, per runtime:

* bits per byte; the change is llama.cpp's over PyTorch's, with a 95% paired bootstrap interval
  over chunks of 256 positions, and the verdict is "same within ±tolerance" when that interval
  lies inside the tolerance (``artifact_tolerance``, default 0.5%), "differs" when it lies outside,
  "undetermined" otherwise;
* top-1 agreement: the share of positions where llama.cpp's most likely token is PyTorch's
  (interval: bootstrap over the same chunks, since neighbouring positions are not independent);
* line exact match: whether greedy decoding reproduces each held-out line (teacher-forced, as the
  domain evaluators score lines), per runtime, compared on the same lines with McNemar's exact test.

Also shown, not counted as a figure: greedy continuations of a few held-out prompts in each
runtime, and whether llama.cpp's own tokenizer gives the ids the run's tokenizer gives. llama_cpp
is imported inside the functions that use it, so the CLI stays light without it. Within a run the
check is :mod:`custom_llm.run.artifact_check`; its report section, :mod:`custom_llm.reports.artifact_section`.
"""

from __future__ import annotations

import importlib.util
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from custom_llm.errors import CustomLLMError
from custom_llm.evaluation.statistics import equivalence

INSTALL = "pip install 'custom-llm[llamacpp]'"
MAX_BYTES = 128 * 1024  # held-out text scored per artifact: whole documents, until this much
MAX_LINES = 4000
DEFAULT_TOLERANCE = 0.005
GREEDY_PROMPTS = 3
GREEDY_TOKENS = 24
RESAMPLES = 2000
CHUNK_TOKENS = 256  # positions per resampled unit of the intervals
SCORE_ROWS = 256  # logits rows turned into log-probabilities at a time


class ArtifactError(CustomLLMError):
    """An artifact check that cannot run: llama.cpp missing, or a path that is no GGUF file."""


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def require_llama_cpp() -> None:
    """Refuse before any work when llama-cpp-python is not installed, with what to install."""
    if not llama_cpp_available():
        raise ArtifactError(f"scoring a GGUF file through llama.cpp needs llama-cpp-python, which is not installed: {INSTALL}")


def check_artifact(path: Path | str) -> Path:
    """The GGUF file at ``path``; ArtifactError for a missing path or a file that is not GGUF."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"--artifact {str(path)!r} is not a file: pass an exported .gguf file (custom-llm export RUN --format gguf).")
    with path.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise ArtifactError(f"--artifact {str(path)!r} is not a GGUF file (its first bytes are not 'GGUF').")
    return path


# ---------------------------------------------------------------------------------------------
# llama.cpp's teacher-forced pass


def open_llama(path: Path, window: int) -> Any:
    """The GGUF file loaded by llama.cpp with logits kept for every position of a window."""
    import os

    from llama_cpp import Llama

    return Llama(model_path=str(path), n_ctx=window, n_batch=min(512, window), logits_all=True, n_threads=os.cpu_count() or 1, verbose=False)


def _log_probs(scores: np.ndarray, rows: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(argmax, log-probability of ``targets``) of logits ``scores[rows]``, a chunk of rows at a time, in float64."""
    best: np.ndarray = np.zeros(len(rows), dtype=np.int64)
    value: np.ndarray = np.zeros(len(rows), dtype=np.float64)
    for start in range(0, len(rows), SCORE_ROWS):
        chunk = scores[rows[start : start + SCORE_ROWS]].astype(np.float64)
        top = chunk.max(axis=1, keepdims=True)
        total = top[:, 0] + np.log(np.exp(chunk - top).sum(axis=1))
        best[start : start + SCORE_ROWS] = chunk.argmax(axis=1)
        value[start : start + SCORE_ROWS] = chunk[np.arange(len(chunk)), targets[start : start + SCORE_ROWS]] - total
    return best, value


def llama_predictions(llm: Any, ids: np.ndarray, offsets: np.ndarray, n_bytes: int, window: int, context: int) -> Any:
    """The :class:`TokenPredictions` of llama.cpp over ``ids``, in ``predict_tokens``'s windows."""
    from custom_llm.evaluation.teacher_forcing import TokenPredictions

    n = len(ids)
    context = min(context, window // 2)
    stride = window - context
    starts = list(range(0, max(1, n - context), stride)) if n > window else [0]
    predicted: np.ndarray = np.zeros(n, dtype=np.int64)
    logprob: np.ndarray = np.zeros(n, dtype=np.float64)
    seen_from: np.ndarray = np.zeros(n, dtype=np.int64)
    for a in starts:
        end = min(a + window, n)
        llm.reset()
        llm.eval([int(i) for i in ids[a:end]])
        scores = np.asarray(llm.scores[: end - a], dtype=np.float32)
        keep = 0 if a == 0 else context
        positions = np.arange(a + keep, end)
        best, value = _log_probs(scores, positions - a, ids[np.minimum(positions + 1, n - 1)])
        predicted[positions], logprob[positions], seen_from[positions] = best, value, a
    logprob[n - 1] = 0.0
    return TokenPredictions(ids, offsets, predicted, logprob, seen_from, n_bytes)


def llama_greedy(llm: Any, ids: Sequence[int], max_new_tokens: int, eos: int | None) -> list[int]:
    """Greedy continuation of ``ids`` by llama.cpp, token by token (the argmax of its logits)."""
    llm.reset()
    llm.eval(list(ids))
    out: list[int] = []
    for _ in range(max_new_tokens):
        token = int(np.argmax(np.asarray(llm.scores[llm.n_tokens - 1])))
        if eos is not None and token == eos:
            break
        out.append(token)
        llm.eval([token])
    return out


# ---------------------------------------------------------------------------------------------
# The comparison


@dataclass
class Compared:
    """Both runtimes' passes over the same documents."""

    texts: list[str]
    pytorch: list[Any]
    llama: list[Any]
    tokenization_same: list[bool]


def line_spans(text: str) -> list[tuple[int, int]]:
    """Every non-blank line of ``text`` as a (start, end) span, without its newline."""
    spans, start = [], 0
    for line in text.split("\n"):
        if line.strip():
            spans.append((start, start + len(line)))
        start += len(line) + 1
    return spans


def ratio_interval(numerator: Sequence[float], denominator: Sequence[float], seed: int) -> tuple[float, float]:
    """95% bootstrap interval (resampling the units in pairs) of sum(numerator) / sum(denominator)."""
    n = len(numerator)
    rng = random.Random(seed)
    draws = []
    for _ in range(RESAMPLES):
        picks = [rng.randrange(n) for _ in range(n)]
        draws.append(sum(numerator[i] for i in picks) / max(1e-12, sum(denominator[i] for i in picks)))
    draws.sort()
    return draws[int(0.025 * RESAMPLES)], draws[min(RESAMPLES - 1, int(0.975 * RESAMPLES))]


def chunked(compared: Compared) -> tuple[list[float], list[float], list[float], list[float]]:
    """Per chunk of ``CHUNK_TOKENS`` positions (of each document in turn): PyTorch's and llama.cpp's
    bits, the positions where their most likely tokens agree, and the positions: the units the
    intervals resample (neighbouring positions are not independent; chunks nearly are, and a run
    with a single held-out document still gets an interval)."""
    torch_bits: list[float] = []
    cpp_bits: list[float] = []
    agree: list[float] = []
    positions: list[float] = []
    for a, b in zip(compared.pytorch, compared.llama, strict=True):
        n = a.n_targets
        for start in range(0, n, CHUNK_TOKENS):
            end = min(n, start + CHUNK_TOKENS)
            torch_bits.append(float(-a.logprob[start:end].sum()) / math.log(2))
            cpp_bits.append(float(-b.logprob[start:end].sum()) / math.log(2))
            agree.append(float((a.predicted[start:end] == b.predicted[start:end]).sum()))
            positions.append(float(end - start))
    return torch_bits, cpp_bits, agree, positions


def figures(compared: Compared, tolerance: float, seed: int) -> dict[str, Any]:
    """Bits per byte, top-1 agreement and line exact match of both runtimes, with intervals and verdicts."""
    from custom_llm.evaluation.statistics import compare
    from custom_llm.evaluation.teacher_forcing import score_spans

    sizes = [p.n_bytes for p in compared.pytorch]
    torch_bits, cpp_bits, agree, positions = chunked(compared)
    torch_bpb, cpp_bpb = sum(torch_bits) / max(1, sum(sizes)), sum(cpp_bits) / max(1, sum(sizes))
    change = cpp_bpb / torch_bpb - 1 if torch_bpb else 0.0
    ratio = ratio_interval(cpp_bits, torch_bits, seed)
    change_interval = (ratio[0] - 1, ratio[1] - 1)
    torch_lines: list[float] = []
    cpp_lines: list[float] = []
    for text, a, b in zip(compared.texts, compared.pytorch, compared.llama, strict=True):
        spans = line_spans(text)[: max(0, MAX_LINES - len(torch_lines))]
        torch_lines += [float(s.exact) for s in score_spans(a, text, spans)]
        cpp_lines += [float(s.exact) for s in score_spans(b, text, spans)]
    lines = compare(torch_lines, cpp_lines, lower_is_better=False, seed=seed) if torch_lines else None
    return {
        "documents": len(compared.texts),
        "chunks": len(positions),
        "tokens": int(sum(positions)),
        "bytes": int(sum(sizes)),
        "bits_per_byte": {
            "pytorch": round(torch_bpb, 6),
            "llama_cpp": round(cpp_bpb, 6),
            "change": change,
            "change_interval": list(change_interval),
            "tolerance": tolerance,
            "verdict": equivalence(change_interval, tolerance),
        },
        "top1_agreement": {
            "value": sum(agree) / max(1.0, sum(positions)),
            "interval": list(ratio_interval(agree, positions, seed)),
            "positions": int(sum(positions)),
        },
        "line_exact_match": None
        if lines is None
        else {
            "n": lines.n,
            "pytorch": sum(torch_lines) / len(torch_lines),
            "llama_cpp": sum(cpp_lines) / len(cpp_lines),
            "p_value": lines.p_value,
            "discordant": list(lines.discordant or ()),  # (PyTorch right and llama.cpp wrong, the reverse)
            "verdict": "no significant difference" if lines.verdict == "no significant difference" else f"llama.cpp {lines.verdict}",
        },
        "tokenization_same": {"documents": sum(compared.tokenization_same), "of": len(compared.tokenization_same)},
    }


def _documents_within(texts: Sequence[str], max_bytes: int) -> list[str]:
    kept: list[str] = []
    size = 0
    for text in texts:
        if not text:
            continue
        if kept and size + len(text.encode("utf-8")) > max_bytes:
            break
        kept.append(text)
        size += len(text.encode("utf-8"))
    return kept


def _prompts(texts: Sequence[str], count: int) -> list[str]:
    """``count`` prompts spread evenly over the documents' line ends (after 40 characters of their
    document): the document's text up to and including that newline, at most its last 160 characters."""
    ends = [(i, at) for i, text in enumerate(texts) for at, c in enumerate(text) if c == "\n" and at >= 40]
    chosen = [ends[int(k * len(ends) / count)] for k in range(count)] if len(ends) >= count else ends
    prompts = [texts[i][max(0, at - 159) : at + 1] for i, at in chosen]
    return [p for p in dict.fromkeys(prompts) if p.strip()]


def score_artifact(
    path: Path,
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    precision: str = "fp32",
    seed: int = 0,
    tolerance: float = DEFAULT_TOLERANCE,
    chat_cases: Sequence[Any] = (),
) -> dict[str, Any]:
    """The artifact's figures beside the PyTorch model's on ``texts`` (see the module docstring), and
    on ``chat_cases`` (instruction cases, :mod:`artifact_chat`) the answers through llama.cpp's chat path."""
    import torch

    from custom_llm.data.document_start import document_start_ids
    from custom_llm.evaluation.artifact_chat import chat_check
    from custom_llm.evaluation.teacher_forcing import CONTEXT, WINDOW, predict_tokens
    from custom_llm.evaluation.threads import measured_threads
    from custom_llm.generation import greedy_generate
    from custom_llm.training.precision import use_bf16

    require_llama_cpp()
    path = check_artifact(path)
    texts = _documents_within(texts, MAX_BYTES)
    limit = int(getattr(model.config, "max_position_embeddings", WINDOW) or WINDOW)
    window = max(2, min(WINDOW, limit))
    started = time.perf_counter()
    llm = open_llama(path, window)
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.pad_token_id
    device = next(model.parameters()).device
    bf16 = use_bf16(precision)
    compared = Compared([], [], [], [])
    greedy = []
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16), measured_threads(model):
        for text in texts:
            reference = predict_tokens(model, tokenizer, text)
            compared.texts.append(text)
            compared.pytorch.append(reference)
            compared.llama.append(llama_predictions(llm, reference.ids, reference.offsets, reference.n_bytes, window, CONTEXT))
            own = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
            compared.tokenization_same.append([int(i) for i in own] == [int(i) for i in reference.ids[1:]])
        for prompt in _prompts(texts, GREEDY_PROMPTS):
            ids = [*document_start_ids(tokenizer), *tokenizer(prompt, add_special_tokens=False)["input_ids"]]
            theirs = tokenizer.decode(llama_greedy(llm, ids, GREEDY_TOKENS, eos), skip_special_tokens=True)
            ours = greedy_generate(model, tokenizer, prompt, GREEDY_TOKENS)
            greedy.append({"prompt": prompt[-80:], "pytorch": ours, "llama_cpp": theirs, "same": ours == theirs})
        chat = chat_check(llm, model, tokenizer, chat_cases, seed)
    result = figures(compared, tolerance, seed)
    result.update(
        artifact=path.name,
        bytes_on_disk=path.stat().st_size,
        runtimes={
            "pytorch": f"PyTorch {torch.__version__} ({'bf16 autocast' if bf16 else 'fp32'}), the run's model",
            "llama_cpp": f"llama.cpp through llama-cpp-python {_version('llama-cpp-python')}",
        },
        greedy=greedy,
        chat=chat,
        seconds=round(time.perf_counter() - started, 1),
    )
    del llm
    return result


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The few figures an export's record and the model card carry."""
    bpb = result["bits_per_byte"]
    lines = result.get("line_exact_match") or {}
    chat = result.get("chat") or {}
    return {
        "artifact": result["artifact"],
        "runtime": result["runtimes"]["llama_cpp"],
        "tokens": result["tokens"],
        "bits_per_byte_pytorch": bpb["pytorch"],
        "bits_per_byte_llama_cpp": bpb["llama_cpp"],
        "change": bpb["change"],
        "verdict": bpb["verdict"],
        "top1_agreement": result["top1_agreement"]["value"],
        "line_exact_match_pytorch": lines.get("pytorch"),
        "line_exact_match_llama_cpp": lines.get("llama_cpp"),
        "lines": lines.get("n"),
        "greedy_same": f"{sum(g['same'] for g in result['greedy'])}/{len(result['greedy'])}",
        "chat_answers_same": f"{chat['agreement']['same']}/{chat['cases']}" if chat else None,
        "chat_finding": chat.get("finding") if chat else None,
    }
