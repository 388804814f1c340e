"""The chat half of the artifact check: does the GGUF answer an instruction through llama.cpp's own
chat path as the PyTorch model answers it through our chat layout?

Serving a GGUF (llama.cpp's server, Ollama, LM Studio) goes through its chat path: the template
embedded in the file renders the conversation and generation stops at the file's end-of-generation
tokens. A template or stop token that differs from training is the most reported cause of an
exported model answering differently, and the teacher-forced figures of :mod:`artifact_eval` cannot
see it (they feed both runtimes the same token ids). So for instruction domains a few held-out
instruction cases (the domain's own ``make_examples`` on the held-out documents) are answered
greedily by both: PyTorch through :func:`custom_llm.data.chat.instruction_prompt` after the
document start, llama.cpp through ``Llama.create_chat_completion`` (temperature 0). Reported:
how many answers agree (Wilson interval), exact match of each runtime against the reference answer
(McNemar's exact test on the same cases), the cases, and a one-line finding naming the cause when
they differ (the prompt llama.cpp renders, its stop tokens, or neither).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CHAT_CASES = 16  # instruction cases answered per artifact (two greedy decodes each)
ANSWER_TOKENS = 48  # greedy tokens per answer, in both runtimes
SHOWN = 4  # cases shown in report.md


@dataclass(frozen=True)
class ChatCase:
    """One held-out instruction: the turns before the answer and the reference answer."""

    messages: tuple[dict[str, str], ...]
    answer: str


def instruction_cases(run: Any, documents: Sequence[Any], tokenizer: Any, limit: int = CHAT_CASES) -> list[ChatCase]:
    """The first ``limit`` instruction examples the domain makes of the held-out ``documents``
    (none for a domain without instruction examples: the chat check is then left out)."""
    from custom_llm.data.chat import INSTRUCTION, conversation
    from custom_llm.data.packing import domain_examples

    cases: list[ChatCase] = []
    for document in documents:
        for example in domain_examples(run, document, tokenizer):
            if example.kind == INSTRUCTION and example.completion.strip():
                cases.append(ChatCase(tuple(conversation(example.prompt, example.messages)), example.completion.strip()))
                if len(cases) >= limit:
                    return cases
    return cases


def llama_chat_prompt(llm: Any) -> tuple[Any, list[str]]:
    """(a function of the turns giving the prompt's token ids as llama.cpp's chat path builds them,
    its stop tokens as text), read from the GGUF as ``create_chat_completion`` reads it; the
    function is None where the file has no template (llama.cpp then falls back to a built-in layout)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    eos_id = int(llm.token_eos())
    eos = llm._model.token_get_text(eos_id) if eos_id >= 0 else ""
    bos_id = int(llm.token_bos())
    bos = llm._model.token_get_text(bos_id) if bos_id >= 0 else ""
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return None, [eos]
    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)

    def ids(messages: Sequence[dict[str, str]]) -> list[int]:
        text = formatter(messages=list(messages)).prompt  # type: ignore[arg-type]  # plain role/content dicts
        return [int(i) for i in llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)]  # added_special: no BOS added

    return ids, [eos]


def our_prompt_ids(tokenizer: Any, case: ChatCase) -> list[int]:
    """The prompt's token ids in our layout: the document start, then the chat template's turns."""
    from custom_llm.data.chat import instruction_prompt
    from custom_llm.data.document_start import document_start_ids

    text = instruction_prompt(tokenizer, "", case.messages)
    return [*document_start_ids(tokenizer), *tokenizer(text, add_special_tokens=False)["input_ids"]]


def answer_pytorch(model: Any, tokenizer: Any, case: ChatCase) -> str:
    """Greedy answer through our chat layout, ending at the tokenizer's end of text (as training ends answers)."""
    from custom_llm.data.chat import instruction_prompt
    from custom_llm.generation import greedy_generate

    text = greedy_generate(model, tokenizer, instruction_prompt(tokenizer, "", case.messages), ANSWER_TOKENS)
    return text.replace("\ufffd", "").strip()  # bytes that are no UTF-8 character dropped, as llama.cpp's text drops them


def answer_llama(llm: Any, case: ChatCase) -> str:
    """Greedy answer through llama.cpp's chat path (the GGUF's template and stop tokens)."""
    llm.reset()
    out = llm.create_chat_completion(messages=list(case.messages), temperature=0.0, top_k=1, repeat_penalty=1.0, max_tokens=ANSWER_TOKENS, seed=0)
    return str(out["choices"][0]["message"]["content"] or "").strip()


def _token_text(tokenizer: Any, ids: Sequence[int]) -> str:
    return repr(tokenizer.decode(list(ids), skip_special_tokens=False))[:40]


def prompt_difference(tokenizer: Any, ours: Sequence[int], theirs: Sequence[int]) -> str | None:
    """Where llama.cpp's chat prompt departs from ours, in words; None when the ids are the same."""
    if list(ours) == list(theirs):
        return None
    if list(ours[1:]) == list(theirs):
        return f"llama.cpp's chat path starts the prompt without the document start {_token_text(tokenizer, ours[:1])} the model was trained after"
    at = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), min(len(ours), len(theirs)))
    return (
        f"the GGUF's chat template renders a different prompt from token {at} on "
        f"(ours {_token_text(tokenizer, ours[at : at + 4])}, llama.cpp's {_token_text(tokenizer, theirs[at : at + 4])})"
    )


def finding(rows: Sequence[dict[str, Any]], prompt_note: str | None, stops: Sequence[str], eos: str | None, template: bool) -> str | None:
    """One line naming why the runtimes' answers differ; None when they all agree."""
    differing = [r for r in rows if not r["same"]]
    if not differing:
        return None
    head = f"{len(differing)} of {len(rows)} answers differ"
    if not template:
        return f"{head}: the GGUF carries no chat template, so llama.cpp's chat path falls back to a built-in layout the model was not trained in"
    if prompt_note:
        return f"{head}: {prompt_note}"
    if eos and eos not in stops:
        return f"{head}: llama.cpp stops at {', '.join(map(repr, stops))}, the model ends its answers with {eos!r}"
    longer = [r for r in differing if r["llama_cpp"].startswith(r["pytorch"]) or r["pytorch"].startswith(r["llama_cpp"])]
    if len(longer) == len(differing):
        return f"{head}: one runtime's answer continues past where the other's stops (stop tokens), on the same prompt"
    return f"{head} on the same prompt and stop tokens: near-tied tokens decoded differently (numerics or quantization)"


def chat_check(llm: Any, model: Any, tokenizer: Any, cases: Sequence[ChatCase], seed: int = 0) -> dict[str, Any] | None:
    """Both runtimes' greedy answers to ``cases`` compared (see the module docstring); None without cases."""
    from custom_llm.evaluation.statistics import compare, wilson_interval

    if not cases:
        return None
    render, stops = llama_chat_prompt(llm)
    rows: list[dict[str, Any]] = []
    notes: list[str | None] = []
    for case in cases:
        ours, theirs = answer_pytorch(model, tokenizer, case), answer_llama(llm, case)
        prompt = case.messages[-1]["content"][-80:]
        rows.append({"prompt": prompt, "reference": case.answer, "pytorch": ours, "llama_cpp": theirs, "same": ours == theirs})
        if render is not None:
            notes.append(prompt_difference(tokenizer, our_prompt_ids(tokenizer, case), render(case.messages)))
    prompts_same = sum(n is None for n in notes)
    note = next((n for n in notes if n is not None), None)
    same = sum(bool(r["same"]) for r in rows)
    torch_right = [float(r["pytorch"] == r["reference"]) for r in rows]
    cpp_right = [float(r["llama_cpp"] == r["reference"]) for r in rows]
    exact = compare(torch_right, cpp_right, lower_is_better=False, seed=seed)
    eos = getattr(tokenizer, "eos_token", None)
    return {
        "cases": len(rows),
        "answer_tokens": ANSWER_TOKENS,
        "agreement": {"value": same / len(rows), "same": same, "interval": list(wilson_interval(same, len(rows)))},
        "exact_match": {
            "pytorch": sum(torch_right) / len(rows),
            "llama_cpp": sum(cpp_right) / len(rows),
            "p_value": exact.p_value,
            "discordant": list(exact.discordant or ()),
            "verdict": "no significant difference" if exact.verdict == "no significant difference" else f"llama.cpp {exact.verdict}",
        },
        "template_in_gguf": render is not None,
        "prompts_same": {"cases": prompts_same, "of": len(notes)},
        "stop_tokens": {"llama_cpp": list(stops), "pytorch": eos},
        "finding": finding(rows, note, stops, eos, render is not None),
        "rows": rows,
    }


def chat_lines(chat: dict[str, Any] | None) -> list[str]:
    """report.md's lines for the chat check of one artifact."""
    if not chat:
        return []
    agree, exact = chat["agreement"], chat["exact_match"]
    b, c = (exact["discordant"] + [0, 0])[:2]
    lines = [
        "",
        f"Instruction cases through llama.cpp's chat path (`create_chat_completion`: the GGUF's template and stop tokens) against "
        f"PyTorch through the run's chat layout, greedy, up to {chat['answer_tokens']} tokens, {chat['cases']} held-out cases:",
        "",
        "| figure | cases | PyTorch | llama.cpp | [95% interval] / test | verdict |",
        "| --- | ---: | --- | --- | --- | --- |",
        f"| answers the same | {chat['cases']} | | {agree['value']:.1%} ({agree['same']}) | "
        f"[{agree['interval'][0]:.1%}, {agree['interval'][1]:.1%}] | |",
        f"| exact match of the reference answer | {chat['cases']} | {exact['pytorch']:.1%} | {exact['llama_cpp']:.1%} | "
        f"p {exact['p_value']:.3f} (McNemar; {b} only PyTorch, {c} only llama.cpp) | {exact['verdict']} |",
        "",
        f"Prompt token ids the same in both on {chat['prompts_same']['cases']} of {chat['prompts_same']['of']} cases; "
        f"stop tokens: llama.cpp {', '.join(map(repr, chat['stop_tokens']['llama_cpp']))}, "
        f"the model's end of text {chat['stop_tokens']['pytorch']!r}.",
    ]
    if chat.get("finding"):
        lines += ["", f"**Finding:** {chat['finding']}."]
    lines += ["", "| instruction (end) | PyTorch | llama.cpp |", "| --- | --- | --- |"]
    for row in chat["rows"][:SHOWN]:
        cells = [str(row[k]).replace("|", "\\|").replace("\n", "⏎")[:100] for k in ("prompt", "pytorch", "llama_cpp")]
        lines.append(f"| `{cells[0]}` | `{cells[1]}` | `{cells[2]}` |")
    return lines
