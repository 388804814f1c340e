"""The codebase domain's checkable answers and reward (the ``dpo``, ``orpo`` and ``grpo`` recipes).

Code has no instructions, but every line is an answer that can be checked exactly. When core asks
for examples with answers (``settings["answers"]``), each training file gives ``answer_lines``
lines drawn with the run's seeded rng, each one of:

- ``code_line``: the prompt is the file's header and the code before the line, the answer the line;
- ``code_fim_line``: the prompt is the FIM sequence up to the middle sentinel (PSM, the sentinels
  training uses) around the line, the answer the line, as the ``code-fim`` evaluator asks.

The context is cut at line starts to fit in ``seq_len`` tokens with room for the answer. Core turns
them into on-policy pairs (the starting model's wrong greedy line rejected) and GRPO prompts; the
reward is "line reproduced": 1.0 exact, a partial score for a correct start (GRPO learns from
differences between the answers to one prompt; all-zero groups teach nothing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from custom_llm import Document, Example
from custom_llm_codebase.fim import fim_prompt, fim_tokens
from custom_llm_codebase.languages import header

KINDS = ("code_line", "code_fim_line")
ANSWER_LINES = 8  # per training file; the recipes' max_pairs (256) caps the total
MIN_LINE_CHARS = 3  # "}" or "else:" teach little and are right by chance
PARTIAL = 0.5  # the most a line that is not exactly right earns: half, times the share of its characters right from the start
PROMPT_SHARE = 0.5  # of seq_len, for the prompt; the rest for the answer (a wrong one runs up to 16 tokens past the truth)
SUFFIX_SHARE = 0.25  # of a FIM prompt's tokens, for the code after the line


def answer_examples(document: Document, options: Mapping[str, Any], rng: Any, tokenizer: Any, seq_len: int) -> list[Example]:
    """Up to ``ANSWER_LINES`` lines of ``document`` as prompt/answer examples (see the module doc)."""
    text = document.text
    language = str(document.metadata.get("language", "text"))
    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    candidates = [i for i, line in enumerate(lines) if i > 0 and len(line.strip()) >= MIN_LINE_CHARS]
    count = min(ANSWER_LINES, len(candidates))
    tokens = fim_tokens(tokenizer)
    if any(token in text for token in tokens.as_list()):
        count = 0  # a file that spells out a sentinel would make a FIM prompt ambiguous (as in training)
    head = header(document.source, language)
    budget = max(1, int(seq_len * PROMPT_SHARE) - _length(tokenizer, head))
    examples = []
    for index in sorted(rng.sample(candidates, count)):
        line = lines[index]
        fim = rng.random() < float(options.get("fim_rate", 0.5))
        room = budget - _length(tokenizer, "".join(tokens.as_list())) if fim else budget  # the sentinels take tokens too
        before_budget = room - int(room * SUFFIX_SHARE) if fim else budget
        before = _fit(lines[:index], before_budget, tokenizer, from_end=True)
        metadata = {"language": language, "line": index + 1, "answer": line}
        if fim:
            after = _fit(lines[index + 1 :], int(room * SUFFIX_SHARE), tokenizer, from_end=False)
            prompt = fim_prompt(head + before, "\n" + after, tokens, "psm")
            examples.append(Example(completion=line, prompt=prompt, kind="code_fim_line", doc_id=document.id, metadata=metadata))
        else:
            examples.append(Example(completion=line, prompt=head + before, kind="code_line", doc_id=document.id, metadata=metadata))
    return examples


def _length(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0


def _fit(lines: list[str], budget: int, tokenizer: Any, from_end: bool) -> str:
    """As many whole ``lines`` as fit in ``budget`` tokens, the nearest to the answer first; each
    kept line ends with its newline (before the answer) or starts after one (after it)."""
    kept: list[str] = []
    used = 0
    for line in reversed(lines) if from_end else lines:
        cost = _length(tokenizer, line + "\n")
        if used + cost > budget:
            break
        kept.append(line)
        used += cost
    if from_end:
        return "".join(line + "\n" for line in reversed(kept))
    return "\n".join(kept)


def checkable(example: Example) -> bool:
    """A code line cut from a file, after its context (or between its prefix and suffix)."""
    return example.kind in KINDS


def reward(example: Example, completion: str) -> float:
    """1.0 for the line as in the file (trailing whitespace aside); else ``PARTIAL`` times the share
    of the line's characters (indentation included) right before the first wrong one."""
    truth = example.completion.rstrip()
    said = completion.split("\n", 1)[0].rstrip()
    if said == truth:
        return 1.0
    right = 0
    for a, b in zip(said, truth, strict=False):
        if a != b:
            break
        right += 1
    return PARTIAL * right / len(truth) if truth else 0.0
