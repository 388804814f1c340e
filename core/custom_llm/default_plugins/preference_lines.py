"""Preference pairs in JSONL, as the text domain reads them: ``{"prompt", "chosen", "rejected"}``
with strings, or TRL's conversational forms (``prompt`` a list of turns and ``chosen`` /
``rejected`` one assistant turn each, or ``chosen`` / ``rejected`` whole conversations that share
every turn but the last). Each pair becomes one conversation whose answer is the chosen one, with
the rejected answer beside it, so supervised recipes train on the chosen answer and ``dpo`` /
``orpo`` on both. Written with the public API only."""

from __future__ import annotations

from typing import Any

from custom_llm import InputError

KEYS = ("prompt", "chosen", "rejected")
ROLES = ("system", "user", "assistant")


def is_preference(record: Any) -> bool:
    """A JSONL record that means to be a preference pair (any of its keys present)."""
    return isinstance(record, dict) and any(key in record for key in KEYS) and "text" not in record and "messages" not in record


def read_preference(record: dict[str, Any]) -> dict[str, Any]:
    """``{"messages": turns ending with the chosen answer, "rejected": str}``; InputError with the
    reason (a missing key, a malformed turn, chosen equal to rejected) otherwise."""
    chosen, rejected = record.get("chosen"), record.get("rejected")
    for key, value in (("chosen", chosen), ("rejected", rejected)):
        if value is None:
            raise InputError(f"preference line without {key!r}: a pair needs 'prompt', 'chosen' and 'rejected'")
    if isinstance(chosen, list) and isinstance(rejected, list) and "prompt" not in record:
        turns, chosen_text, rejected_text = _implicit_prompt(_turns(chosen, "chosen"), _turns(rejected, "rejected"))
    else:
        if "prompt" not in record:
            raise InputError("preference line without 'prompt': a pair needs 'prompt', 'chosen' and 'rejected'")
        turns = _prompt_turns(record["prompt"])
        chosen_text, rejected_text = _answer(chosen, "chosen"), _answer(rejected, "rejected")
    if chosen_text.strip() == rejected_text.strip():
        raise InputError("preference line whose chosen answer equals its rejected one: nothing to prefer")
    for turn in [*turns, {"content": chosen_text}, {"content": rejected_text}]:
        _check_unicode(turn["content"])
    return {"messages": [*turns, {"role": "assistant", "content": chosen_text}], "rejected": rejected_text}


def _prompt_turns(prompt: Any) -> list[dict[str, str]]:
    if isinstance(prompt, str) and prompt.strip():
        return [{"role": "user", "content": prompt}]
    if isinstance(prompt, list) and prompt:
        turns = _turns(prompt, "prompt")
        if turns[-1]["role"] == "assistant":
            raise InputError("preference line whose 'prompt' ends with an assistant turn: the answer belongs in 'chosen' and 'rejected'")
        return turns
    raise InputError("preference line with an empty or malformed 'prompt': give a string or a list of {role, content} turns")


def _answer(value: Any, key: str) -> str:
    if isinstance(value, str):
        if not value.strip():
            raise InputError(f"preference line with an empty {key!r} answer")
        return value
    turns = _turns(value, key)
    if len(turns) != 1 or turns[0]["role"] != "assistant":
        raise InputError(f"preference line whose {key!r} is not one assistant turn (a string, or [{{'role': 'assistant', 'content': ...}}])")
    return turns[0]["content"]


def _turns(value: Any, key: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise InputError(f"preference line whose {key!r} is neither a string nor a list of {{role, content}} turns")
    turns = []
    for turn in value:
        if not (isinstance(turn, dict) and turn.get("role") in ROLES and isinstance(turn.get("content"), str)):
            raise InputError(f"preference line whose {key!r} holds a turn that is not {{role: system|user|assistant, content: str}}")
        turns.append({"role": turn["role"], "content": turn["content"]})
    return turns


def _implicit_prompt(chosen: list[dict[str, str]], rejected: list[dict[str, str]]) -> tuple[list[dict[str, str]], str, str]:
    """TRL's implicit-prompt form: two conversations that differ only in their last, assistant turn."""
    if chosen[:-1] != rejected[:-1] or chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant" or len(chosen) < 2:
        raise InputError("preference line whose 'chosen' and 'rejected' conversations do not share every turn but a last assistant one")
    return chosen[:-1], chosen[-1]["content"], rejected[-1]["content"]


def _check_unicode(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InputError(f"invalid text: {text[error.start]!r} at character {error.start} is a lone surrogate, not valid Unicode") from None
