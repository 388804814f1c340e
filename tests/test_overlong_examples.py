"""An instruction example longer than a block is left out and counted, never cut: a cut would train
the answer's tail without its question. Causal text still runs on across blocks."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from custom_llm import Document, Domain, Example, hookimpl
from custom_llm.cli import main
from custom_llm.data.encoding import IGNORE, encode_flat
from custom_llm.data.packers import pack
from custom_llm.data.storage import open_dataset
from custom_llm.data.tokenization import train_bpe_tokenizer
from custom_llm.testing import registered_plugin

WORDS = "the pump seal was replaced after the bearing vibration rose above seven millimetres per second".split()


def _tokenizer():
    return train_bpe_tokenizer(iter([" ".join(WORDS)] * 50), 300, [])


def test_an_instruction_example_longer_than_a_block_is_left_out_and_counted(tmp_path):
    tokenizer = _tokenizer()
    long_question = " ".join(WORDS * 6)
    examples = [
        Example(prompt=long_question + "? ", completion="replaced the seal", kind="instruction"),
        Example(prompt="what was done? ", completion="replaced the seal", kind="instruction"),
        Example(completion=" ".join(WORDS * 6)),  # causal text: runs on across blocks, as before
    ]
    lengths = encode_flat(tokenizer, examples).lengths.tolist()
    seq_len = 32
    assert lengths[0] > seq_len and lengths[1] <= seq_len and lengths[2] > seq_len
    packed = pack(examples, tokenizer, seq_len, tmp_path / "train.arrow")
    assert (packed.too_long, packed.longest_example, packed.n_examples) == (1, lengths[0], 2)
    assert packed.real_tokens == lengths[1] + lengths[2]
    assert packed.to_json()["examples_too_long"] == 1 and packed.to_json()["longest_example"] == lengths[0]
    answer = tokenizer("replaced the seal", add_special_tokens=False)["input_ids"]
    labels = np.concatenate([np.array(row) for row in open_dataset(tmp_path / "train.arrow")["labels"]])
    # the targets: the short question's answer and its end of text, and the causal text after its first token
    assert packed.target_tokens == int(np.count_nonzero(labels != IGNORE)) == (len(answer) + 1) + (lengths[2] - 1)


class LongQuestions:
    @hookimpl
    def register_domains(self, register):
        register(
            Domain(
                name="long-questions",
                description="every document as a long question with a short answer",
                discover=lambda source: sorted(source.glob("*.txt")),
                ingest=lambda files: (Document(text=p.read_text(), source=p.name) for p in files),
                make_examples=lambda document: [
                    Example(prompt=document.text * (3 if document.source < "2" else 1), completion=" yes", kind="instruction")
                ],
            )
        )


def test_the_ingest_summary_shows_how_many_were_left_out_and_the_longest(tmp_path, monkeypatch):
    monkeypatch.setenv("CUSTOM_LLM_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "source"
    source.mkdir()
    for n in range(40):
        (source / f"{n}.txt").write_text(f"note {n}: " + " ".join(WORDS[: 8 + n % 5]) + "\n")
    arguments = ["ingest", "--domain", "long-questions", "--recipe", "scratch", "--seq-len", "48", "--source", str(source)]
    with registered_plugin(LongQuestions(), "long-questions"):
        result = CliRunner().invoke(main, [*arguments, "--output", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "examples_too_long" in line)
    left_out = int(row.split("examples_too_long")[1].strip(" │|\n"))
    assert 0 < left_out < 40
    assert "longest_example" in result.output
    assert f"{left_out} instruction example(s) of" in result.output and "exceed a block of 48 tokens" in result.output
