"""Code evaluators on held-out files: every line teacher-forced (``code-exact``, run by default),
and the generating ones (function-body completion, line completion, infilling; opt-in, slow on CPU).

A generating evaluator draws ``max(max_examples, MIN_GENERATED_CASES)`` cases with
``random.Random(ctx.seed)`` (so base and tuned model see the same cases; never a figure on a handful),
generates greedily through ``ctx.generate`` and scores exact match and edit similarity
(1 - Levenshtein distance / length of the longer string). Prompts are left-truncated to
``PROMPT_CHARS`` so that a tiny model evaluates in seconds.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from custom_llm import Cases, Document, EvalContext
from custom_llm_codebase.examples import units_of
from custom_llm_codebase.fim import fim_prompt, fim_tokens
from custom_llm_codebase.shown import offer
from custom_llm_codebase.units import BRACE_LANGUAGES

PROMPT_CHARS = 1500
SUFFIX_CHARS = 500
MAX_BODY_CHARS = 600
MAX_BODY_TOKENS = 128
MIN_LINE_CHARS = 8
MIN_GENERATED_CASES = 200  # a generated-sample figure on fewer cases cannot show a difference of a few points
CODE_LIKE = frozenset({"python", "javascript", "typescript", "tsx", "java", "go", "rust", "c", "cpp"})


def levenshtein(a: str, b: str) -> int:
    """Edit distance with Myers' bit-parallel algorithm (Hyyrö's formulation): one pass over ``b``
    with ``len(a)``-bit integers, fast enough for every evaluator case in pure Python."""
    if not a:
        return len(b)
    if not b:
        return len(a)
    full = (1 << len(a)) - 1
    top = 1 << (len(a) - 1)
    masks: dict[str, int] = {}
    for index, char in enumerate(a):
        masks[char] = masks.get(char, 0) | (1 << index)
    plus, minus, score = full, 0, len(a)
    for char in b:
        eq = masks.get(char, 0)
        xv = eq | minus
        xh = (((eq & plus) + plus) ^ plus) | eq
        horizontal_plus = (minus | ~(xh | plus)) & full
        horizontal_minus = plus & xh
        if horizontal_plus & top:
            score += 1
        elif horizontal_minus & top:
            score -= 1
        horizontal_plus = ((horizontal_plus << 1) | 1) & full
        horizontal_minus = (horizontal_minus << 1) & full
        plus = (horizontal_minus | ~(xv | horizontal_plus)) & full
        minus = horizontal_plus & xv
    return score


def edit_similarity(prediction: str, truth: str) -> float:
    longest = max(len(prediction), len(truth))
    return 1.0 if longest == 0 else 1.0 - levenshtein(prediction, truth) / longest


def _normalize(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.strip("\n").splitlines()).strip()


def _score(cases: list[tuple[str, str]]) -> dict[str, Any]:
    if not cases:
        return {"examples": 0}
    return {
        "exact_match": Cases(_normalize(p) == _normalize(t) for p, t in cases),
        "edit_similarity": Cases(edit_similarity(_normalize(p), _normalize(t)) for p, t in cases),
        "examples": len(cases),
    }


def _left(text: str, limit: int = PROMPT_CHARS) -> str:
    return text[-limit:]


def _code_documents(ctx: EvalContext) -> list[Document]:
    return [d for d in ctx.documents if d.metadata.get("language") in CODE_LIKE]


# --- function body ------------------------------------------------------------------------------


def function_body_cases(documents: list[Document], limit: int, seed: int) -> list[dict[str, Any]]:
    """Functions whose body can be asked for: the prompt is the file up to the signature and
    docstring (or opening brace), the truth is the rest of the function."""
    cases = []
    for document in documents:
        language = document.metadata.get("language")
        text = document.text
        for unit in units_of(document):
            start = unit.get("code_start", -1)
            if unit["kind"] not in ("function", "method") or start is None or start < 0:
                continue
            end = unit["body_end"] if language in BRACE_LANGUAGES else unit["end"]
            truth = text[start:end]
            if not truth.strip() or len(truth) > MAX_BODY_CHARS:
                continue
            line_start = text.rfind("\n", 0, unit["start"]) + 1
            indent = text[line_start : unit["start"]]
            cases.append(
                {
                    "text": text,
                    "start": start,
                    "truth": truth,
                    "language": language,
                    "indent": indent if not indent.strip() else "",
                    "source": document.source,
                }
            )
    return [{**case, "prompt": _left(case["text"][: case["start"]])} for case in _sample(cases, limit, seed)]


def cut_body(generated: str, language: str, indent: str) -> str:
    """The generated body up to where the function ends: the first line indented no deeper than the
    ``def`` (Python), or the brace that closes the body (brace languages)."""
    if language in BRACE_LANGUAGES:
        depth = 1
        for index, char in enumerate(generated):
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    return generated[: index + 1]
        return generated
    lines = generated.split("\n")
    kept = []
    for index, line in enumerate(lines):
        if index > 0 and line.strip() and len(line) - len(line.lstrip()) <= len(indent):
            break
        kept.append(line)
    return "\n".join(kept)


def evaluate_function_body(ctx: EvalContext) -> Mapping[str, float]:
    results = []
    for case in function_body_cases(_code_documents(ctx), generated_cases(ctx), ctx.seed):
        stop = (
            () if case["language"] in BRACE_LANGUAGES else tuple("\n" + case["indent"] + keyword for keyword in ("def ", "class ", "@", "async def "))
        )
        tokens = min(MAX_BODY_TOKENS, max(16, len(case["truth"]) // 2))
        generated = ctx.generate(case["prompt"], tokens, stop=stop)
        results.append((cut_body(generated, case["language"], case["indent"]), case["truth"]))
    return _score(results)


def _code_lines(documents: list[Document]) -> Iterator[tuple[str, int, str, str]]:
    """(file text, line offset, line, stripped line) for every line long enough to be a case."""
    for document in documents:
        text = document.text
        position = 0
        for line in text.split("\n"):
            stripped = line.strip()
            if len(stripped) >= MIN_LINE_CHARS:
                yield text, position, line, stripped
            position += len(line) + 1


# --- every line and every body, teacher-forced --------------------------------------------------


def line_spans(document: Document) -> list[tuple[int, int]]:
    """Every held-out line of code worth completing: from its first non-blank character to its end."""
    spans = []
    for _, position, line, stripped in _code_lines([document]):
        if not stripped.startswith(("#", "//", "/*", "*")):
            start = position + len(line) - len(line.lstrip())
            spans.append((start, position + len(line.rstrip())))
    return spans


def rest_of_line_spans(document: Document, seed: int) -> list[tuple[int, int]]:
    """The rest of a statement: for every line of :func:`line_spans` with a space in its first half,
    from a seeded one of those spaces to the line's end (``x = |compute(y)``). A cut before a space
    is a token boundary for byte-level BPE (a word's token carries its leading space), so the
    teacher-forced figure is the one generation from that prompt would give."""
    rng = random.Random(f"{seed}\x1f{document.id}")
    spans = []
    for start, end in line_spans(document):
        middle = start + (end - start) // 2
        spaces = [i for i in range(start + 1, middle + 1) if document.text[i] == " " and document.text[i - 1] != " "]
        if spaces:
            spans.append((rng.choice(spaces), end))
    return spans


def body_spans(document: Document) -> list[tuple[int, int]]:
    """Every function or method body: from after its signature and docstring to its end."""
    spans = []
    brace = document.metadata.get("language") in BRACE_LANGUAGES
    for unit in units_of(document):
        start = unit.get("code_start", -1)
        if unit["kind"] in ("function", "method") and start is not None and start >= 0:
            end = unit["body_end"] if brace else unit["end"]
            if document.text[start:end].strip():
                spans.append((start, end))
    return spans


def evaluate_exact(ctx: EvalContext) -> Mapping[str, float]:
    """Greedy exact match of every held-out line (cut at its newline), the rest of every statement
    from a point inside it, and every function body, all from one teacher-forced pass per file
    (``EvalContext.score_spans``)."""
    lines: list[bool] = []
    bodies: list[bool] = []
    rests: list[Any] = []
    shown: list[tuple[Document, Any, int]] = []
    line_bits: list[float] = []
    line_bytes: list[int] = []
    for document in _code_documents(ctx):
        if len(lines) >= ctx.max_cases:
            break
        spans = line_spans(document)
        for (_, end), score in zip(spans, ctx.score_spans(document, spans, stop="\n"), strict=True):
            lines.append(score.exact)
            line_bits.append(score.bits)
            line_bytes.append(len(document.text[score.start : end].encode("utf-8")))
        spans = rest_of_line_spans(document, ctx.seed)
        for (_, end), score in zip(spans, ctx.score_spans(document, spans, stop="\n"), strict=True):
            rests.append(score)
            shown.append((document, score, end))
        bodies += [score.exact for score in ctx.score_spans(document, body_spans(document))]
    if not lines:
        return {"examples": 0}
    metrics: dict[str, Any] = {
        "line_exact_match": Cases(lines),
        "line_bits_per_byte": Cases(line_bits, line_bytes),
        "line_examples": len(lines),
        "body_examples": len(bodies),
    }
    if rests:
        metrics.update(
            {
                "rest_of_line_exact_match": Cases(score.exact for score in rests),
                # the teacher-forced counterpart of a generated sample's edit similarity: how much of the line greedy gets right
                "rest_of_line_chars_matched": Cases(score.matched / max(1, len(score.text)) for score in rests),
                "rest_of_line_examples": len(rests),
            }
        )
        offer(ctx, "rest of line", shown)
    if bodies:
        metrics["body_exact_match"] = Cases(bodies)
    return metrics


# --- line completion ----------------------------------------------------------------------------


def line_cases(documents: list[Document], limit: int, seed: int) -> list[dict[str, Any]]:
    """Held-out lines cut at a random point of their first half: the prompt is the file up to the
    cut, the truth is the rest of the line."""
    rng = random.Random(seed)
    cases = []
    for text, position, line, stripped in _code_lines(documents):
        if not stripped.startswith(("#", "//", "/*", "*")):
            indent = len(line) - len(line.lstrip())
            cut = indent + rng.randint(1, max(1, len(stripped) // 2))
            cases.append({"text": text, "cut": position + cut, "end": position + len(line)})
    return [{"prompt": _left(c["text"][: c["cut"]]), "truth": c["text"][c["cut"] : c["end"]]} for c in _sample(cases, limit, seed)]


def evaluate_line_completion(ctx: EvalContext) -> Mapping[str, float]:
    results = []
    for case in line_cases(_code_documents(ctx), generated_cases(ctx), ctx.seed):
        tokens = min(48, max(8, len(case["truth"]) // 2 + 4))
        generated = ctx.generate(case["prompt"], tokens, stop=("\n",))
        results.append((generated.split("\n", 1)[0], case["truth"]))
        right = _normalize(results[-1][0]) == _normalize(case["truth"])
        ctx.show(f"line completion {len(results)}", case["prompt"], case["truth"], results[-1][0], correct=right)
    return _score(results)


# --- infilling ----------------------------------------------------------------------------------


def infilling_cases(documents: list[Document], limit: int, seed: int) -> list[dict[str, Any]]:
    """A held-out line's code (without its indentation) is the middle; the file around it is
    prefix and suffix."""
    cases = []
    for text, position, line, stripped in _code_lines(documents):
        start = position + len(line) - len(line.lstrip())
        cases.append({"text": text, "start": start, "end": start + len(stripped)})
    return [
        {
            "prefix": _left(c["text"][: c["start"]]),
            "middle": c["text"][c["start"] : c["end"]],
            "suffix": c["text"][c["end"] : c["end"] + SUFFIX_CHARS],
        }
        for c in _sample(cases, limit, seed)
    ]


def evaluate_infilling(ctx: EvalContext) -> Mapping[str, float]:
    tokens = fim_tokens(ctx.tokenizer)
    results = []
    for case in infilling_cases(_code_documents(ctx), generated_cases(ctx), ctx.seed):
        prompt = fim_prompt(case["prefix"], case["suffix"], tokens, "psm")
        budget = min(48, max(8, len(case["middle"]) // 2 + 4))
        generated = ctx.generate(prompt, budget, stop=("\n",))
        results.append((generated.split("\n", 1)[0], case["middle"]))
        right = _normalize(results[-1][0]) == _normalize(case["middle"])
        ctx.show(f"infilling {len(results)}", case["prefix"], case["middle"], results[-1][0], correct=right)
    return _score(results)


def generated_cases(ctx: EvalContext) -> int:
    """Cases a generating evaluator draws: ``max_examples``, but never fewer than ``MIN_GENERATED_CASES``."""
    return max(ctx.max_examples, MIN_GENERATED_CASES)


def _sample(cases: list[dict[str, Any]], limit: int, seed: int) -> list[dict[str, Any]]:
    if len(cases) <= limit:
        return cases
    return random.Random(seed).sample(cases, limit)


EVALUATORS: dict[str, Callable[[EvalContext], Mapping[str, float]]] = {
    "code-exact": evaluate_exact,
    "code-function-body": evaluate_function_body,
    "code-line-completion": evaluate_line_completion,
    "code-infilling": evaluate_infilling,
}
