"""One layout for instruction data, in training and in evaluation alike: the base tokenizer's chat
template when it has one, else the plugin's plain prompt. A model trained in one layout and asked
in another is the most reported failure of fine-tuned models served elsewhere, so both the packer
and ``EvalContext.answer`` go through :func:`instruction_prompt`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from custom_llm.data.document_start import without_template_start
from custom_llm.records import Example

INSTRUCTION = "instruction"


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def conversation(prompt: str, messages: Sequence[Mapping[str, str]] = ()) -> list[dict[str, str]]:
    """The turns before the answer: the example's own ``messages``, or its prompt as one user turn."""
    if messages:
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]
    return [{"role": "user", "content": prompt.strip()}]


def instruction_prompt(tokenizer: Any, prompt: str, messages: Sequence[Mapping[str, str]] = ()) -> str:
    """What the model sees before its answer: the chat template with the assistant's turn opened,
    or the plain prompt when the tokenizer has no template (scratch models, plain bases)."""
    if not has_chat_template(tokenizer):
        return prompt
    opened = tokenizer.apply_chat_template(conversation(prompt, messages), tokenize=False, add_generation_prompt=True)
    return without_template_start(tokenizer, opened)  # the document start is put before it, as before every sequence


def laid_out(example: Example, tokenizer: Any) -> Example:
    """``example`` in the layout its tokenizer calls for. An instruction pair under a chat template
    becomes the templated conversation as prompt (never a target) and the assistant's answer with
    the template's end of turn as completion; the packer appends the end-of-text token, so a turn
    end equal to it is not doubled. Other examples pass unchanged."""
    if example.kind != INSTRUCTION or not has_chat_template(tokenizer):
        return example
    turns = conversation(example.prompt, example.messages)
    prompt = without_template_start(tokenizer, tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True))
    answered = [*turns, {"role": "assistant", "content": example.completion.strip()}]
    full = without_template_start(tokenizer, tokenizer.apply_chat_template(answered, tokenize=False))
    if not full.startswith(prompt):  # a template that rewrites earlier turns: keep the answer, opened the template's way
        full = prompt + example.completion.strip()
    completion = full[len(prompt) :]
    eos = getattr(tokenizer, "eos_token", None)
    if eos and eos in completion:
        completion = completion[: completion.rindex(eos)]
    return replace(example, prompt=prompt, completion=completion, messages=())
