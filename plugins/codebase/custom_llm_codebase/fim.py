"""Fill-in-the-middle: which sentinel tokens to use, how a sequence is laid out, where to cut.

Layouts (Bavarian et al. 2022, as StarCoder uses them), with P, S, M the prefix, suffix and middle
sentinels:

* PSM: ``P prefix S suffix M middle``
* SPM: ``P S suffix M prefix middle`` (the variant that keeps prefix and middle contiguous)

The whole sequence is trained on (empty prompt), the usual practice. The middle span is chosen on
syntax (a function body, a block, a statement) or uniformly at random over characters.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import cache
from typing import Any

from custom_llm import InputError

# Sentinel sets known from released code models, tried in this order on a base tokenizer.
KNOWN_SETS: tuple[tuple[str, str, str], ...] = (
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),  # StarCoder, SantaCoder
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),  # Qwen2.5-Coder, GPT-NeoX style
    ("[PREFIX]", "[SUFFIX]", "[MIDDLE]"),  # Mistral, Codestral
    ("<PRE>", "<SUF>", "<MID>"),  # Code Llama (when they are single tokens)
    ("<\uff5cfim\u2581begin\uff5c>", "<\uff5cfim\u2581hole\uff5c>", "<\uff5cfim\u2581end\uff5c>"),  # DeepSeek-Coder
)
DEFAULT_SET = KNOWN_SETS[0]
SPANS = ("function_body", "block", "statement")
MAX_MIDDLE_CHARS = 4096

BLOCK_QUERIES: dict[str, str] = {
    "python": "(block) @block",
    "javascript": "(statement_block) @block",
    "typescript": "(statement_block) @block",
    "tsx": "(statement_block) @block",
    "java": "[(block) (constructor_body)] @block",
    "go": "(block) @block",
    "rust": "(block) @block",
    "c": "(compound_statement) @block",
    "cpp": "(compound_statement) @block",
}


@dataclass(frozen=True)
class FimTokens:
    prefix: str
    suffix: str
    middle: str

    def as_list(self) -> list[str]:
        return [self.prefix, self.suffix, self.middle]


_found: weakref.WeakKeyDictionary[Any, FimTokens | None] = weakref.WeakKeyDictionary()


def existing_fim_tokens(tokenizer: Any) -> FimTokens | None:
    """The FIM sentinels ``tokenizer`` already has (each encodes to exactly one id), or None."""
    if tokenizer is None:
        return None
    try:
        if tokenizer in _found:
            return _found[tokenizer]
    except TypeError:  # not weak-referenceable: just recompute
        pass
    result = None
    for candidate in KNOWN_SETS:
        if all(_single_token(tokenizer, token) for token in candidate):
            result = FimTokens(*candidate)
            break
    try:
        _found[tokenizer] = result
    except TypeError:
        pass
    return result


def _single_token(tokenizer: Any, token: str) -> bool:
    try:
        ids = tokenizer(token, add_special_tokens=False)["input_ids"]
    except Exception:
        return False
    if len(ids) != 1:
        return False
    unknown = getattr(tokenizer, "unk_token_id", None)
    return unknown is None or ids[0] != unknown


def fim_tokens(tokenizer: Any) -> FimTokens:
    """The sentinels examples and evaluators use: the tokenizer's own, else the default set that
    the ``special_tokens`` hook asks core to add. Both hooks call this, so they always agree."""
    return existing_fim_tokens(tokenizer) or FimTokens(*DEFAULT_SET)


def format_fim(prefix: str, middle: str, suffix: str, tokens: FimTokens, mode: str) -> str:
    if mode == "psm":
        return f"{tokens.prefix}{prefix}{tokens.suffix}{suffix}{tokens.middle}{middle}"
    if mode == "spm":
        return f"{tokens.prefix}{tokens.suffix}{suffix}{tokens.middle}{prefix}{middle}"
    raise ValueError(f"unknown FIM mode {mode!r}: use 'psm' or 'spm'")


def fim_prompt(prefix: str, suffix: str, tokens: FimTokens, mode: str = "psm") -> str:
    """The inference prompt: the sequence up to where the middle is generated."""
    return format_fim(prefix, "", suffix, tokens, mode)


def parse_fim(sequence: str, tokens: FimTokens, mode: str, prefix_chars: int | None = None) -> tuple[str, str, str]:
    """(prefix, middle, suffix) back from a formatted sequence; SPM needs ``prefix_chars`` since
    prefix and middle are contiguous there. A sequence that is not laid out with ``tokens`` in
    ``mode`` raises InputError."""
    if mode == "psm":
        if not sequence.startswith(tokens.prefix) or tokens.suffix not in sequence:
            raise InputError("not a PSM sequence: it must start with the prefix sentinel and hold the suffix sentinel")
        prefix, rest = sequence[len(tokens.prefix) :].split(tokens.suffix, 1)
        if tokens.middle not in rest:
            raise InputError("not a PSM sequence: no middle sentinel after the suffix sentinel")
        suffix, middle = rest.rsplit(tokens.middle, 1)
        return prefix, middle, suffix
    if prefix_chars is None:
        raise ValueError("an SPM sequence needs prefix_chars to split prefix from middle")
    head = tokens.prefix + tokens.suffix
    if not sequence.startswith(head) or tokens.middle not in sequence[len(head) :]:
        raise InputError("not an SPM sequence: it must start with the prefix and suffix sentinels and hold the middle sentinel")
    suffix, rest = sequence[len(head) :].rsplit(tokens.middle, 1)
    if not 0 <= prefix_chars <= len(rest):
        raise InputError(f"not an SPM sequence of a {prefix_chars}-character prefix: prefix and middle hold {len(rest)}")
    return rest[:prefix_chars], rest[prefix_chars:], suffix


def random_span(text: str, rng: Any) -> tuple[int, int]:
    """Two cut points drawn uniformly over the characters (Bavarian et al.)."""
    first, second = rng.randint(0, len(text)), rng.randint(0, len(text))
    return min(first, second), max(first, second)


def syntax_span(text: str, language: str, units: list[dict[str, Any]], rng: Any) -> tuple[int, int, str] | None:
    """A middle that follows syntax: a whole function body, a block or a statement; None when the
    file has none (not a parsed language, a parse error, no blocks)."""
    kinds = list(SPANS)
    rng.shuffle(kinds)
    for kind in kinds:
        span = _bodies(text, units, rng) if kind == "function_body" else _block_or_statement(text, language, kind, rng)
        if span is not None:
            return span[0], span[1], kind
    return None


def _bodies(text: str, units: list[dict[str, Any]], rng: Any) -> tuple[int, int] | None:
    spans = []
    for unit in units:
        if unit["kind"] in ("function", "method"):
            start, end = unit["body_start"], unit["body_end"]
            if text[start : start + 1] == "{" and text[end - 1 : end] == "}":
                start, end = start + 1, end - 1
            if 0 < end - start <= MAX_MIDDLE_CHARS:
                spans.append((start, end))
    return rng.choice(spans) if spans else None


@cache
def _block_query(language: str) -> Any:
    import tree_sitter

    from custom_llm_codebase.languages import ts_language

    return tree_sitter.Query(ts_language(language), BLOCK_QUERIES[language])


def _block_or_statement(text: str, language: str, kind: str, rng: Any) -> tuple[int, int] | None:
    if language not in BLOCK_QUERIES:
        return None
    from custom_llm_codebase.units import char_converter, parse_tree, query_cursor

    tree, data = parse_tree(text, language)
    if tree.root_node.has_error:
        return None
    blocks = query_cursor(_block_query(language)).captures(tree.root_node).get("block", [])
    if not blocks:
        return None
    to_char = char_converter(data, text)
    for _ in range(8):
        block = rng.choice(blocks)
        if kind == "block":
            start, end = block.start_byte, block.end_byte
            if data[start : start + 1] == b"{" and data[end - 1 : end] == b"}":
                start, end = start + 1, end - 1
        else:
            statements = [c for c in block.named_children if c.type != "comment"]
            if not statements:
                continue
            statement = rng.choice(statements)
            start, end = statement.start_byte, statement.end_byte
        if 0 < end - start <= MAX_MIDDLE_CHARS:
            return to_char(start), to_char(end)
    return None
