"""``--format ollama``: the GGUF file and a ``Modelfile``: the chat template translated into a Go
TEMPLATE (derived by rendering it around marker texts, checked on real conversations both ways),
its stop tokens and PARAMETERs, so that ``ollama create NAME -f Modelfile`` is all that is left."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from custom_llm.deploy.formats import ExportError
from custom_llm.deploy.tokens import document_start, fim_tokens

MAX_OLLAMA_CONTEXT = 8192


_SENTINELS = {"system": "SYSTEMqzx1", "user": "USERqzx2", "assistant": "ASSISTANTqzx3", "user2": "USERqzx4", "assistant2": "ASSISTANTqzx5"}


_CHECKS = (
    [("user", "Hello")],
    [("system", "Answer briefly."), ("user", "Hello")],
    [("user", "Hi"), ("assistant", "Hello! How can I help?"), ("user", "Tell me more.")],
    [("system", "Be kind."), ("user", "Hi"), ("assistant", "Hello."), ("user", "What is 2 + 2?")],
)


@dataclass
class ChatLayout:
    """How a conversation is laid out for the model: ``start`` (the end-of-text token every training
    example began with), the system block (or ``preamble`` without one: a template's default system
    prompt), then per message ``before + content + after``, and ``generation`` opening the answer.
    ``chat`` is False for a tokenizer without a chat template: plain text continuation."""

    start: str
    chat: bool
    preamble: str = ""
    system: tuple[str, str] | None = None
    user: tuple[str, str] = ("", "")
    assistant: tuple[str, str] = ("", "")
    generation: str = ""
    stops: list[str] = field(default_factory=list)
    fim: tuple[str, str, str] | None = None  # prefix, suffix, middle sentinels of a plain layout trained with FIM (PSM)

    def render(self, messages: Sequence[Mapping[str, str]]) -> str:
        """What the Go template :meth:`go_template` renders (Ollama's semantics: system messages become
        ``.System``, joined by blank lines; the answer is opened after a last user message)."""
        if not self.chat:
            return self.start + "".join(m["content"] for m in messages if m["role"] == "user")
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        text = self.start + (self.system[0] + system + self.system[1] if system and self.system else self.preamble)
        for index, message in enumerate(messages):
            last = index == len(messages) - 1
            if message["role"] == "user":
                text += self.user[0] + message["content"] + self.user[1] + (self.generation if last else "")
            elif message["role"] == "assistant":
                text += self.assistant[0] + message["content"] + ("" if last else self.assistant[1])
        return text

    def go_template(self) -> str:
        """The Modelfile TEMPLATE: one line of actions around the literal pieces, no whitespace
        trimming, so every newline of the pieces is kept exactly."""
        if not self.chat:
            if self.fim:
                prefix, suffix, middle = (_go_literal(t) for t in self.fim)
                body = f"{{{{ if .Suffix }}}}{prefix}{{{{ .Prompt }}}}{suffix}{{{{ .Suffix }}}}{middle}{{{{ else }}}}{{{{ .Prompt }}}}{{{{ end }}}}"
                return _go_literal(self.start) + body
            return _go_literal(self.start) + "{{ .Prompt }}"
        text = _go_literal(self.start)
        if self.system:
            otherwise = "{{ else }}" + _go_literal(self.preamble) if self.preamble else ""
            text += "{{ if .System }}" + _go_literal(self.system[0]) + "{{ .System }}" + _go_literal(self.system[1]) + otherwise + "{{ end }}"
        else:
            text += _go_literal(self.preamble)
        return text + (
            "{{ range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}"
            '{{ if eq .Role "user" }}'
            + _go_literal(self.user[0])
            + "{{ .Content }}"
            + _go_literal(self.user[1])
            + "{{ if $last }}"
            + _go_literal(self.generation)
            + "{{ end }}"
            '{{ else if eq .Role "assistant" }}'
            + _go_literal(self.assistant[0])
            + "{{ .Content }}"
            + "{{ if not $last }}"
            + _go_literal(self.assistant[1])
            + "{{ end }}"
            "{{ end }}{{ end }}"
        )


def _go_literal(text: str) -> str:
    if "{{" in text or "}}" in text or '"""' in text:
        raise ExportError(
            f"the chat template's text {text[:60]!r} cannot be written literally in an Ollama TEMPLATE: "
            "export --format gguf and write the Modelfile by hand (docs/deploy.md)."
        )
    return text


def _messages(turns: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in turns]


def plain_layout(tokenizer: Any) -> ChatLayout:
    """Plain completion, as text and code domains train: end-of-text then the prompt; with FIM
    sentinels, Ollama's suffix request laid out PSM as in training."""
    eos = tokenizer.eos_token or ""
    return ChatLayout(start=document_start(tokenizer), chat=False, stops=[eos] if eos else [], fim=fim_tokens(tokenizer))


def chat_layout(tokenizer: Any) -> ChatLayout:
    """The layout of ``tokenizer``'s chat template, derived by rendering it around marker texts and
    checked by rendering real conversations both ways; ExportError when the template does something
    a fixed per-role layout cannot express (then write the TEMPLATE by hand)."""
    eos = tokenizer.eos_token or ""
    start = document_start(tokenizer)  # every training example, and every prompt generation sees, starts with it
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return ChatLayout(start=start, chat=False, stops=[eos] if eos else [])

    def render(turns: Sequence[tuple[str, str]], generation: bool = False) -> str:
        from custom_llm.data.document_start import without_template_start

        opened = tokenizer.apply_chat_template(_messages(turns), tokenize=False, add_generation_prompt=generation)
        return without_template_start(tokenizer, opened)  # the runtime adds a BOS the tokenizer adds, as training had one

    def fail(why: str) -> ExportError:
        return ExportError(
            f"the chat template cannot be written as an Ollama TEMPLATE ({why}): export --format gguf and write the "
            "TEMPLATE by hand (docs/deploy.md)."
        )

    s, u, a, u2 = _SENTINELS["system"], _SENTINELS["user"], _SENTINELS["assistant"], _SENTINELS["user2"]
    try:
        three = render([("user", u), ("assistant", a), ("user", u2)])
        two = render([("user", u), ("assistant", a)])
        one, opened = render([("user", u)]), render([("user", u)], generation=True)
    except Exception as error:  # a template raises what it likes (jinja errors, raise_exception)
        raise fail(f"{type(error).__name__}: {error}") from None
    if any(three.count(marker) != 1 for marker in (u, a, u2)) or not opened.startswith(one):
        raise fail("the messages' text does not appear exactly once")
    user_after = three[three.index(u2) + len(u2) :]
    assistant_after = two[two.index(a) + len(a) :]
    between_user_and_assistant = three[three.index(u) + len(u) : three.index(a)]
    between_assistant_and_user = three[three.index(a) + len(a) : three.index(u2)]
    if not between_user_and_assistant.startswith(user_after) or not between_assistant_and_user.startswith(assistant_after):
        raise fail("the turns are not laid out the same way each time")
    assistant_before = between_user_and_assistant[len(user_after) :]
    user_before = between_assistant_and_user[len(assistant_after) :]
    head = three[: three.index(u)]
    if not head.endswith(user_before):
        raise fail("the first user turn is laid out differently")
    preamble = head[: len(head) - len(user_before)]
    system = None
    try:
        with_system = render([("system", s), ("user", u)])
    except Exception:  # a template that refuses system messages: the TEMPLATE ignores them too
        with_system = ""
    if with_system.count(s) == 1 and u in with_system:
        block = with_system[: with_system.index(u)]
        if block.endswith(user_before):
            block = block[: len(block) - len(user_before)]
            system = (block[: block.index(s)], block[block.index(s) + len(s) :])
    layout = ChatLayout(
        start=start,
        chat=True,
        preamble=preamble,
        system=system,
        user=(user_before, user_after),
        assistant=(assistant_before, assistant_after),
        generation=opened[len(one) :],
    )
    for turns in _CHECKS:
        if system is None and any(role == "system" for role, _ in turns):
            continue
        try:
            expected = start + render(turns, generation=True)
        except Exception:
            continue
        if layout.render(_messages(turns)) != expected:
            raise fail(f"a conversation of {len(turns)} messages renders differently")
    layout.go_template()  # refuses pieces Go cannot hold literally
    layout.stops = _stop_tokens(tokenizer, assistant_after + user_before, user_before.strip())
    return layout


def _stop_tokens(tokenizer: Any, turn_boundary: str, next_turn: str) -> list[str]:
    """End-of-text, the special tokens that end an answer or open the next turn, and the text that
    opens the next user turn when no special token does (a template whose turn markers are plain text)."""
    stops = [tokenizer.eos_token] if tokenizer.eos_token else []
    special = [t.content for t in getattr(tokenizer, "added_tokens_decoder", {}).values() if getattr(t, "special", False)]
    for token in sorted(set(special) | set(getattr(tokenizer, "all_special_tokens", []) or []), key=turn_boundary.find):
        if token and token in turn_boundary and token not in stops:
            stops.append(token)
    if next_turn and not any(stop in next_turn for stop in stops):
        stops.append(next_turn)
    return stops


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def modelfile(gguf_name: str, layout: ChatLayout, model: Any, why: str = "") -> str:
    """The Modelfile: FROM the GGUF beside it, the TEMPLATE it was trained with, stop tokens, parameters."""
    context = int(getattr(model.config, "max_position_embeddings", 2048) or 2048)
    context = min(context, MAX_OLLAMA_CONTEXT)
    lines = [
        "# Written by custom-llm export. Create the model with:  ollama create NAME -f Modelfile",
        f"FROM ./{gguf_name}",
        "",
        "# The layout the model was trained with: the end-of-text token every training example began with,"
        if layout.chat
        else "# Plain completion, the layout the model was trained with: the end-of-text token every",
        "# then the tokenizer's chat template, turn by turn." if layout.chat else "# training example began with, then the prompt.",
        *(["# A request with a suffix is laid out fill-in-the-middle (prefix, suffix, middle sentinels), as trained."] if layout.fim else []),
        *([f"# Why: {why}."] if why else []),
        f'TEMPLATE """{layout.go_template()}"""',
        "",
    ]
    lines += [f"PARAMETER stop {_quote(stop)}" for stop in layout.stops]
    lines += [
        f"# the context the model has positions for (at most {MAX_OLLAMA_CONTEXT}); Ollama's default may be another",
        f"PARAMETER num_ctx {context}",
        f"PARAMETER num_predict {min(512, max(16, context // 2))}",
        "# close to the greedy decoding custom-llm evaluated with; raise it for more varied answers",
        "PARAMETER temperature 0.2",
        "PARAMETER top_p 0.9",
        "",
    ]
    return "\n".join(lines)
