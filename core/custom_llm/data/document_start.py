"""The token every document starts with, in training and in evaluation alike.

A model is scored fairly only after the start it was trained with: Gemma's tokenizer puts ``<bos>``
before every text, and after its ``<eos>`` instead llama.cpp gives the Gemma 3 270M base 0.8203
bits per byte against 0.7816 after ``<bos>`` (4.7% worse than it is). So where the tokenizer adds a
beginning-of-sequence token of its own (its post-processor, which a GGUF's
``tokenizer.ggml.add_bos_token`` sets when the file is converted), every document starts with that
token; elsewhere with the end-of-text token that has always separated documents here (SmolLM2's
``<|im_end|>``, the scratch tokenizer's ``<|endoftext|>``: their figures are unchanged).
Packing, the teacher-forced passes, generation and the artifact check all call
:func:`document_start_ids`, so no two places can disagree.
"""

from __future__ import annotations

from typing import Any

_PROBE = "a"


def adds_bos(tokenizer: Any) -> bool:
    """Whether ``tokenizer(text)`` (special tokens on, as the model's own users call it) puts its BOS
    token first: read from what it does, since ``add_bos_token`` is not kept by every tokenizer
    class across a save and reload while the post-processor that adds the token is."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return False
    with_special = tokenizer(_PROBE, add_special_tokens=True)["input_ids"]
    without = tokenizer(_PROBE, add_special_tokens=False)["input_ids"]
    return bool(with_special) and with_special[0] == bos and without[:1] != [bos]


def document_start_ids(tokenizer: Any) -> list[int]:
    """The one token before every document: the tokenizer's BOS where it adds one, else its
    end-of-text token (its padding token when it has none)."""
    if adds_bos(tokenizer):
        return [int(tokenizer.bos_token_id)]
    end = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.pad_token_id
    if end is None:
        raise ValueError("the tokenizer has neither a BOS token it adds nor an end-of-text or padding token to start documents with")
    return [int(end)]


def document_start_text(tokenizer: Any) -> str:
    """:func:`document_start_ids` as text, for trainers that take strings (TRL's preference trainers)."""
    return str(tokenizer.decode(document_start_ids(tokenizer)))


def without_template_start(tokenizer: Any, text: str) -> str:
    """``text`` (a chat template's output) without the BOS token the template writes first (Gemma's
    does) when the tokenizer adds that token itself: the document start comes before every sequence
    already, and a second one would be a layout the model was never trained or scored in."""
    bos = getattr(tokenizer, "bos_token", None)
    if bos and text.startswith(bos) and adds_bos(tokenizer):
        return text[len(bos) :]
    return text
