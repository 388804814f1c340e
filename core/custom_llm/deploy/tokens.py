"""What every format writes alike from the tokenizer: the document start every training example began
with, the chat template with that start in front, and the FIM sentinels of a FIM-trained run."""

from __future__ import annotations

import json
from typing import Any


def document_start(tokenizer: Any) -> str:
    """The text of the token every training example began with, which every prompt must begin with
    too (:func:`~custom_llm.data.document_start.document_start_ids`): the end-of-text token, or
    "" where the tokenizer adds its own BOS, which llama.cpp and Ollama then add as well (the GGUF's
    ``tokenizer.ggml.add_bos_token``, set from the same probe)."""
    from custom_llm.data.document_start import adds_bos, document_start_ids

    if adds_bos(tokenizer):
        return ""
    try:
        (start,) = document_start_ids(tokenizer)
    except ValueError:
        return ""
    return str(tokenizer.convert_ids_to_tokens(start) or "")


def trained_chat_template(tokenizer: Any) -> str | None:
    """The tokenizer's chat template with the document start in front: the layout training used and
    the Ollama TEMPLATE holds, for llama.cpp's ``--jinja`` (None without a template)."""
    template = getattr(tokenizer, "chat_template", None)
    if not isinstance(template, str) or not template:
        return template if template else None
    start = document_start(tokenizer)
    return ("{{ " + json.dumps(start, ensure_ascii=False) + " }}" if start else "") + template


# FIM sentinel sets of released code models (the codebase plugin's, in its order): PSM layout
FIM_SETS: tuple[tuple[str, str, str], ...] = (
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
    ("[PREFIX]", "[SUFFIX]", "[MIDDLE]"),
    ("<PRE>", "<SUF>", "<MID>"),
)


def fim_tokens(tokenizer: Any) -> tuple[str, str, str] | None:
    """The FIM sentinels the tokenizer holds as tokens of their own (added by a FIM-trained run), or None."""
    added = set(getattr(tokenizer, "get_added_vocab", dict)() or {})
    return next((tokens for tokens in FIM_SETS if all(t in added for t in tokens)), None)
