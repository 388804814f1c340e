"""Every document starts with its tokenizer's own start token, in training and in evaluation alike:
the BOS token where the tokenizer (or the GGUF it was converted from) adds one, else end-of-text.
Checked on a tiny model of each kind: the scratch tokenizer and a GGUF without BOS (end-of-text,
as before), and a tokenizer that adds a distinct ``<s>``, as a folder and as a GGUF file."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pytest

from custom_llm.data.document_start import adds_bos, document_start_ids
from custom_llm.records import Example
from custom_llm.testing import make_tiny_gguf, make_tiny_model

BOS = "<s>"
TEMPLATE = "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n{% endfor %}"
TEMPLATE += "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"


def _texts() -> list[str]:
    return [p.read_text() for p in sorted(Path(click.__file__).parent.glob("*.py"))][:6]


def _with_bos(folder: Path) -> Path:
    """A tiny model whose tokenizer adds a BOS token of its own, distinct from end-of-text."""
    from transformers import AutoTokenizer

    make_tiny_model(folder, _texts(), extra_tokens=[BOS])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.bos_token = BOS
    tokenizer.add_bos_token = True  # installs the post-processor that puts it first, which save_pretrained keeps
    tokenizer.chat_template = TEMPLATE
    tokenizer.save_pretrained(folder)
    return folder


def _converted(gguf: Path, cache: Path) -> Path:
    from custom_llm.models.base_model import base_folder, resolve_base_model
    from custom_llm.plugins import get_plugins
    from custom_llm.run.cache import StageCache

    return base_folder(resolve_base_model(str(gguf), get_plugins()), StageCache(cache))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """The four kinds, each a transformers folder (GGUF files converted the way a GGUF base is)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from custom_llm.deploy.gguf_writer import write_gguf

    root = tmp_path_factory.mktemp("kinds")
    bos = _with_bos(root / "bos")
    bos_gguf = write_gguf(AutoModelForCausalLM.from_pretrained(bos), AutoTokenizer.from_pretrained(bos), root / "bos-gguf" / "tiny-bos.gguf")
    return {
        "scratch": make_tiny_model(root / "scratch", _texts()),
        "gguf": _converted(make_tiny_gguf(root / "gguf", _texts()), root / "cache"),
        "bos": bos,
        "bos-gguf": _converted(bos_gguf, root / "cache"),
    }


def _load(folder: Path):
    from transformers import AutoModelForCausalLM

    from custom_llm.data.tokenization import load_base_tokenizer

    return AutoModelForCausalLM.from_pretrained(folder).eval(), load_base_tokenizer(folder)


@pytest.mark.parametrize("kind", ["scratch", "gguf", "bos", "bos-gguf"])
def test_each_kind_starts_documents_with_its_own_token(tiny, kind):
    _, tokenizer = _load(tiny[kind])
    start = document_start_ids(tokenizer)
    if kind.startswith("bos"):
        assert adds_bos(tokenizer) and start == [tokenizer.convert_tokens_to_ids(BOS)] and start != [tokenizer.eos_token_id]
    else:  # no BOS of its own: end-of-text, as every document started before
        assert not adds_bos(tokenizer) and start == [tokenizer.eos_token_id]


@pytest.mark.parametrize("kind", ["scratch", "bos-gguf"])
def test_training_blocks_lay_every_example_after_the_start_token(tiny, kind, tmp_path):
    from custom_llm.data.packers import pack

    _, tokenizer = _load(tiny[kind])
    (start,) = document_start_ids(tokenizer)
    texts = [text[:300] for text in _texts()]
    packed = pack([Example(completion=text) for text in texts], tokenizer, 64, tmp_path / "train.arrow")
    rows = packed.dataset
    stream = np.concatenate([np.array(row["input_ids"]) for row in rows])
    labels = np.concatenate([np.array(row["labels"]) for row in rows])
    expected = np.concatenate([[start, *tokenizer(text, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id] for text in texts])
    assert np.array_equal(stream[: len(expected)], expected)  # the last block's padding after it
    assert stream[0] == start and labels[0] == -100  # a block starts with it, and it is never a target


@pytest.mark.parametrize("kind", ["gguf", "bos"])
def test_evaluation_windows_and_generation_start_with_it(tiny, kind):
    import torch

    from custom_llm.evaluation.teacher_forcing import predict_tokens, score_answers
    from custom_llm.generation import greedy_generate

    model, tokenizer = _load(tiny[kind])
    start = document_start_ids(tokenizer)
    text = _texts()[0][:200]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():  # what the model gives the text after its start token
        logprobs = torch.log_softmax(model(torch.tensor([[*start, *ids]])).logits[0].double(), dim=-1)
    predictions = predict_tokens(model, tokenizer, text)
    assert predictions.ids[0] == start[0] and predictions.ids[1:].tolist() == ids
    assert predictions.logprob[0] == pytest.approx(float(logprobs[0, ids[0]]), abs=1e-4)
    prompt, answer = text[:120], text[120:160]
    cut = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    whole = tokenizer(prompt + answer, add_special_tokens=False)["input_ids"]
    assert whole[:cut] == ids[:cut]  # the answer's tokens follow the prompt's unchanged: the sum below is the pass's
    expected = sum(float(logprobs[i, whole[i]]) for i in range(cut, len(whole)))  # position i of [start]+whole predicts whole[i]
    (scored,) = score_answers(model, tokenizer, [(prompt, answer)])
    assert scored.logprob == pytest.approx(expected, abs=1e-3)
    seen = []
    generate = model.generate
    model.generate = lambda input_ids, **kwargs: seen.append(input_ids[0].tolist()) or generate(input_ids=input_ids, **kwargs)
    greedy_generate(model, tokenizer, prompt, max_new_tokens=2)
    assert seen == [[*start, *ids[:cut]]]


def test_a_chat_template_that_writes_bos_is_not_given_a_second_one(tiny):
    from custom_llm.data.chat import instruction_prompt, laid_out
    from custom_llm.data.encoding import encode_examples

    _, tokenizer = _load(tiny["bos"])
    (start,) = document_start_ids(tokenizer)
    prompt = instruction_prompt(tokenizer, "Which channel?")
    assert not prompt.startswith(BOS) and prompt.startswith("<|user|>")
    example = laid_out(Example(completion="HEAD0000ACX", prompt="Which channel?", kind="instruction"), tokenizer)
    ((ids, labels),) = encode_examples(tokenizer, [example])
    assert ids[0] == start and ids.count(start) == 1 and labels[0] == -100


@pytest.mark.parametrize("kind", ["scratch", "bos"])
def test_preference_prompts_start_with_it_too(tiny, kind):
    from custom_llm.training.preference import layout

    _, tokenizer = _load(tiny[kind])
    prompt, completion = layout(Example(prompt="What is the limit?", completion="42"), tokenizer, "41")
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert ids[:1] == document_start_ids(tokenizer) and completion.strip().startswith("41")
