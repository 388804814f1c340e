"""The tokenizer built from a GGUF file tokenizes as llama.cpp does with that file.

transformers' GGUF loader rebuilds a tokenizer from the file's metadata, and two of its choices
part from llama.cpp (the runtime the file is deployed with), so base figures and training data
were measured on other tokens than the ones the deployed model gets:

* SentencePiece-style files (``tokenizer.ggml.model`` "llama": Gemma, Llama 2, Mistral v1). llama.cpp
  first cuts the text at every USER_DEFINED token of the file, longest first, matched whole in the
  raw text (Gemma's are runs of 2 to 31 spaces, of newlines and of tabs, and HTML tags), then
  merges each remaining piece by score. The loader respells Gemma's space runs as ``▁▁...`` and
  merges them like any other piece: 32 spaces before "intelligently" gave 16 + 16 spaces then
  "int", "ellig", "ently", where llama.cpp gives 31 spaces then "▁intelligently". Here every
  USER_DEFINED token keeps the file's spelling at its own id and is matched whole before anything
  else (the ``tokenizers`` added vocabulary matches leftmost-longest, which equals llama.cpp's
  longest-first for runs of one character and for tags), and merges into a respelled token are
  dropped, since llama.cpp never builds one by merging.
* Byte-level BPE files whose ``tokenizer.ggml.pre`` names a split the loader does not know (SmolLM2's
  "smollm", StarCoder's, "default"): the loader falls back to GPT-2's split, while llama.cpp splits
  digits apart first. Here the file's split is the one llama.cpp's ``llama-vocab.cpp`` uses.
* Byte-level files of the Llama 3 family (and Tekken, GLM-4): llama.cpp takes a pre-token that is
  itself in the vocabulary whole (``ignore_merges``), as their own ``tokenizer.json`` files do; the
  loader's BPE merges it, which can end on other pieces. Here it is taken whole too.

:func:`match_llama_cpp` rewrites a converted folder's ``tokenizer.json`` accordingly; it is idempotent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RULE = "llama.cpp tokenization 2"  # recorded with a converted base: a folder converted before is upgraded once
USER_DEFINED = 4  # llama.cpp's token type (gguf.TokenType.USER_DEFINED)
_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
# llama.cpp's regex sequences (llama-vocab.cpp, 0.3.36's vendored copy) for the pre-tokenizer names
# transformers' GGUF loader has no split for; each regex cuts the pieces the previous one left
LLAMA_CPP_SPLITS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva"), (r"\p{N}", _GPT2)),
    "default": (r"[\p{P}\$\+<=>\^~\|]+", _GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"),
}
# the pre-tokenizer names for which llama.cpp sets ignore_merges (the same file)
IGNORE_MERGES = frozenset(
    ("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano")
    + ("youtu", "glm4", "glm5", "tekken", "granite-embed-multi-97m")
)


def read_vocabulary(gguf: Path) -> dict[str, Any]:
    """The file's tokenizer model and pre-tokenizer names, tokens and token types."""
    from transformers.integrations.gguf.reader import read_gguf_metadata

    metadata, _ = read_gguf_metadata(str(gguf), ("tokenizer.ggml.tokens",))
    return {
        "model": metadata.get("tokenizer.ggml.model"),
        "pre": metadata.get("tokenizer.ggml.pre"),
        "tokens": list(metadata.get("tokenizer.ggml.tokens") or []),
        "types": list(metadata.get("tokenizer.ggml.token_type") or []),
    }


def _user_defined_whole(state: dict[str, Any], tokens: list[str], types: list[int]) -> list[str]:
    """Every USER_DEFINED token of the file at its id with its own spelling, matched whole (see the module docstring)."""
    model = state["model"]
    vocab: dict[str, int] = model["vocab"]
    by_id = {index: token for token, index in vocab.items()}
    respelled: set[str] = set()
    for index, (token, kind) in enumerate(zip(tokens, types, strict=False)):
        held = by_id.get(index)
        if kind != USER_DEFINED or held is None or held == token or vocab.get(token, index) != index:
            continue
        del vocab[held]
        vocab[token] = index
        respelled.add(held)
    merges = model.get("merges") or []

    def kept(merge: Any) -> bool:
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        return not ({left, right, left + right} & respelled)

    model["merges"] = [merge for merge in merges if kept(merge)]
    added = {entry["id"]: entry for entry in state.get("added_tokens") or []}
    changes = [f"{len(respelled)} USER_DEFINED tokens respelled by the loader given back their own spelling"] if respelled else []
    missing = 0
    for index, (token, kind) in enumerate(zip(tokens, types, strict=False)):
        if kind != USER_DEFINED or vocab.get(token) != index:
            continue
        entry = added.get(index)
        if entry is None:
            missing += 1
            added[index] = {
                "id": index,
                "content": token,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": False,
            }
        elif entry["content"] != token or entry.get("normalized"):
            missing += 1
            entry.update(content=token, normalized=False)
    state["added_tokens"] = [added[index] for index in sorted(added)]
    if missing:
        changes.append(f"{missing} USER_DEFINED tokens matched whole before merging, as llama.cpp does")
    return changes


def _split(state: dict[str, Any], pre: str) -> list[str]:
    """llama.cpp's regex split for this byte-level file, where the loader fell back to GPT-2's."""
    wanted = {
        "type": "Sequence",
        "pretokenizers": [
            *({"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False} for regex in LLAMA_CPP_SPLITS[pre]),
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        ],
    }
    current = state.get("pre_tokenizer") or {}
    if current == wanted:
        return []
    if current.get("type") != "ByteLevel":  # the loader built a split of its own: not the fallback this replaces
        return []
    state["pre_tokenizer"] = wanted
    return [f"pre-tokenizer {pre!r}: llama.cpp's {len(LLAMA_CPP_SPLITS[pre])} regex splits instead of GPT-2's"]


def match_llama_cpp(folder: Path, gguf: Path) -> list[str]:
    """Rewrite ``folder/tokenizer.json`` (converted from ``gguf``) to tokenize as llama.cpp does;
    returns one line per change (none when it already does)."""
    path = folder / "tokenizer.json"
    state = json.loads(path.read_text(encoding="utf-8"))
    file = read_vocabulary(gguf)
    changes: list[str] = []
    if file["model"] == "llama" and (state.get("model") or {}).get("type") == "BPE":
        changes += _user_defined_whole(state, file["tokens"], file["types"])
    elif file["model"] == "gpt2" and file["pre"] in LLAMA_CPP_SPLITS:
        changes += _split(state, file["pre"])
    elif file["model"] == "gpt2" and file["pre"] in IGNORE_MERGES and (state.get("model") or {}).get("ignore_merges") is False:
        state["model"]["ignore_merges"] = True
        changes.append(f"pre-tokenizer {file['pre']!r}: a pre-token that is in the vocabulary is taken whole, as llama.cpp does")
    if changes:
        from tokenizers import Tokenizer

        text = json.dumps(state, ensure_ascii=False)
        Tokenizer.from_str(text)  # refuse to write a tokenizer that does not load
        partial = path.with_name(f"tokenizer.json.{os.getpid()}.part")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    return changes
