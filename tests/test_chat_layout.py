"""Instruction data in the base's chat template, in training and in evaluation alike, with the loss
on the assistant's tokens only; the plain layout where the tokenizer has no template."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from custom_llm.data.chat import instruction_prompt, laid_out
from custom_llm.data.encoding import IGNORE, encode_flat
from custom_llm.data.tokenization import train_bpe_tokenizer
from custom_llm.evaluation.context import EvalContext
from custom_llm.records import Example

TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def tokenizers():
    texts = [p.read_text() for p in sorted(Path(click.__file__).parent.glob("*.py"))]
    plain = train_bpe_tokenizer(iter(texts), 512, ["<|im_start|>", "<|im_end|>"])
    chat = train_bpe_tokenizer(iter(texts), 512, ["<|im_start|>", "<|im_end|>"])
    chat.chat_template = TEMPLATE
    chat.eos_token = "<|im_end|>"
    return plain, chat


def test_plain_tokenizer_keeps_the_plugins_layout(tokenizers):
    plain, _ = tokenizers
    example = Example(prompt="Question: 2+2?\nAnswer:", completion=" 4\n", kind="instruction")
    assert laid_out(example, plain) == example
    assert instruction_prompt(plain, example.prompt) == example.prompt


def test_chat_template_lays_out_the_pair_and_masks_everything_but_the_answer(tokenizers):
    _, chat = tokenizers
    example = Example(prompt="Question: 2+2?\nAnswer:", completion=" 4\n", kind="instruction")
    shaped = laid_out(example, chat)
    assert shaped.prompt == "<|im_start|>user\nQuestion: 2+2?\nAnswer:<|im_end|>\n<|im_start|>assistant\n"
    assert shaped.completion == "4"  # the template's turn end is the end-of-text token the packer appends
    encoded = encode_flat(chat, [shaped])
    targets = encoded.ids[encoded.labels != IGNORE]
    assert chat.decode(targets.tolist()) == "4<|im_end|>"
    # evaluation asks in the same layout
    assert instruction_prompt(chat, example.prompt) == shaped.prompt


def test_conversation_messages_and_other_kinds(tokenizers):
    _, chat = tokenizers
    turns = ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"})
    shaped = laid_out(Example(prompt="<|user|>\nHi\n<|assistant|>\n", completion="Hello\n", kind="instruction", messages=turns), chat)
    assert shaped.prompt.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi")
    assert shaped.completion == "Hello" and shaped.messages == ()
    causal = Example(completion="def f():\n    return 1\n")
    assert laid_out(causal, chat) == causal


def test_eval_context_answer_uses_the_training_layout(tokenizers, tiny_base_model):
    import torch
    from transformers import AutoModelForCausalLM

    _, chat = tokenizers
    model = AutoModelForCausalLM.from_pretrained(tiny_base_model, dtype=torch.float32)
    model.resize_token_embeddings(len(chat))
    seen = []
    ctx = EvalContext(model=model, tokenizer=chat, documents=[], settings={}, domain_options={})
    ctx.generate = lambda prompt, max_new_tokens=64, stop=(): seen.append(prompt) or ""  # record what the model is asked
    ctx.answer("Question: 2+2?")
    assert seen == [instruction_prompt(chat, "Question: 2+2?")] and seen[0].endswith("<|im_start|>assistant\n")
