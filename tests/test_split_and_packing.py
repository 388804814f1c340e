"""The document-level split, packing efficiency, and no attention across packed documents."""

from __future__ import annotations

import lzma

import pytest

from custom_llm.data.encoding import IGNORE, encode_examples
from custom_llm.data.packers import Packer, pack
from custom_llm.data.split import choose_eval_groups
from custom_llm.data.tokenization import train_bpe_tokenizer
from custom_llm.errors import SourceError
from custom_llm.evaluation.evaluate import xz_bits_per_byte
from custom_llm.records import Example


def test_split_is_by_group_stable_and_order_independent():
    groups = {f"file{i}.txt" for i in range(200)}
    held = choose_eval_groups(groups, seed=7, fraction=0.1)
    assert held == choose_eval_groups(set(sorted(groups, reverse=True)), seed=7, fraction=0.1)
    assert 8 <= len(held) <= 35
    assert held != choose_eval_groups(groups, seed=8, fraction=0.1)
    # adding files does not move existing ones across the split
    more = choose_eval_groups(groups | {f"new{i}.txt" for i in range(50)}, seed=7, fraction=0.1)
    assert held == {g for g in more if g in groups}


def test_split_holds_out_at_least_one_and_never_all():
    assert len(choose_eval_groups({"a", "b"}, seed=1, fraction=0.01)) == 1
    assert len(choose_eval_groups({"a", "b"}, seed=1, fraction=0.99)) == 1
    with pytest.raises(SourceError, match="at least 2"):
        choose_eval_groups({"only"}, seed=1, fraction=0.1)


def test_packer_fills_blocks_and_restarts_positions():
    packer = Packer(seq_len=8, pad_id=0)
    blocks = list(packer.add(list(range(1, 6)), list(range(1, 6))))
    blocks += list(packer.add(list(range(10, 17)), list(range(10, 17))))
    blocks += list(packer.finish())
    assert [b["input_ids"] for b in blocks] == [[1, 2, 3, 4, 5, 10, 11, 12], [13, 14, 15, 16, 0, 0, 0, 0]]
    assert blocks[0]["position_ids"] == [0, 1, 2, 3, 4, 0, 1, 2]
    assert blocks[1]["position_ids"] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert blocks[1]["labels"][4:] == [IGNORE] * 4


@pytest.fixture(scope="module")
def tokenizer():
    texts = ["def add(a, b):\n    return a + b\n" * 20, "The quick brown fox jumps over the lazy dog.\n" * 20]
    return train_bpe_tokenizer(iter(texts), 300, ["<|user|>"])


def test_prompt_tokens_are_not_targets(tokenizer):
    [(ids, labels)] = encode_examples(tokenizer, [Example(prompt="<|user|>\nhi\n", completion="hello")])
    prompt_len = len(tokenizer("<|user|>\nhi\n", add_special_tokens=False)["input_ids"])
    assert ids[0] == ids[-1] == tokenizer.eos_token_id
    assert labels[: 1 + prompt_len] == [IGNORE] * (1 + prompt_len)
    assert labels[1 + prompt_len :] == ids[1 + prompt_len :]


def test_packing_efficiency_on_real_text(tokenizer, tmp_path, text_corpus):
    examples = [Example(completion=p.read_text()) for p in sorted(text_corpus.iterdir())]
    packed = pack(iter(examples), tokenizer, 256, tmp_path / "train.arrow")
    assert packed.efficiency >= 0.95
    assert packed.real_tokens == sum(len(tokenizer(e.completion, add_special_tokens=False)["input_ids"]) + 2 for e in examples)
    assert len(packed.dataset) == packed.n_blocks


def test_packed_documents_do_not_attend_to_each_other(tokenizer):
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(0)
    model = MistralForCausalLM(
        MistralConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            use_cache=False,
        )
    ).eval()
    packer = Packer(seq_len=40, pad_id=tokenizer.pad_token_id)
    [(first, first_labels), (second, second_labels)] = encode_examples(
        tokenizer, [Example(completion="The quick brown fox"), Example(completion="def add(a, b): return a")]
    )
    list(packer.add(first, first_labels))
    list(packer.add(second, second_labels))
    block = next(packer.finish())
    with torch.no_grad():
        packed = model(input_ids=torch.tensor([block["input_ids"]]), position_ids=torch.tensor([block["position_ids"]])).logits
        alone = model(input_ids=torch.tensor([second])).logits
    start = len(first)
    torch.testing.assert_close(packed[0, start : start + len(second)], alone[0], atol=1e-5, rtol=1e-4)


def test_xz_baseline_follows_its_definition():
    train, held = ["alpha beta gamma " * 50], ["alpha beta delta " * 10]
    expected_train = "\n".join(train).encode()
    expected = (
        (
            len(lzma.compress(expected_train + "\n".join(held).encode(), preset=9 | lzma.PRESET_EXTREME))
            - len(lzma.compress(expected_train, preset=9 | lzma.PRESET_EXTREME))
        )
        * 8
        / len("\n".join(held).encode())
    )
    assert xz_bits_per_byte(iter(train), held) == pytest.approx(expected)


def test_xz_context_is_the_tail_of_the_training_text():
    from custom_llm.evaluation.evaluate import _tail_bytes

    texts = ["first document", "second", "a third, longer document"]
    joined = "\n".join(texts).encode()
    for limit in (1, 5, 24, 40, 100):
        assert _tail_bytes(iter(texts), limit) == joined[-limit:]
