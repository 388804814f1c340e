"""The artifact check's chat half: instruction cases answered through llama.cpp's own chat path
(``create_chat_completion``: the GGUF's embedded template and stop tokens) against the PyTorch
model through the run's chat layout, on tiny GGUFs: one whose template renders exactly our prompt
(the answers agree), one whose template leaves out the document start the model is trained after
(the finding names it)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from custom_llm.evaluation.artifact_chat import ChatCase, chat_check, chat_lines, finding, prompt_difference
from custom_llm.testing import make_tiny_model

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (optional: pip install 'custom-llm[llamacpp]')")

BOS = "<s>"
TURNS = "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n{% endfor %}"
TURNS += "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
CASES = [
    ChatCase(({"role": "user", "content": "What does the group decorator do?"},), "It makes a command group."),
    ChatCase(({"role": "user", "content": "Name the option class."},), "Option"),
    ChatCase(({"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "def main():"}), "pass"),
]


def _tiny(folder: Path, bos: bool):
    """A tiny model and tokenizer with a chat template, written as a folder and as an f32 GGUF."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from custom_llm.deploy.gguf_writer import write_gguf

    texts = [p.read_text() for p in sorted(Path(click.__file__).parent.glob("*.py"))][:6]
    make_tiny_model(folder, texts, extra_tokens=[BOS] if bos else [])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if bos:
        tokenizer.bos_token = BOS
        tokenizer.add_bos_token = True  # documents start with <s>, which the template writes first
    tokenizer.chat_template = ("{{ bos_token }}" if bos else "") + TURNS
    tokenizer.save_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return model, tokenizer, write_gguf(model, tokenizer, folder / "tiny.gguf", "f32")


def _check(folder: Path, bos: bool):
    from custom_llm.evaluation.artifact_eval import open_llama

    model, tokenizer, gguf = _tiny(folder, bos)
    llm = open_llama(gguf, 256)
    return chat_check(llm, model, tokenizer, CASES)


def test_a_template_that_renders_our_layout_gives_the_same_answers(tmp_path):
    chat = _check(tmp_path, bos=True)
    print(f"\nsame prompt: {chat['agreement']} {[(r['pytorch'][:30], r['llama_cpp'][:30]) for r in chat['rows']]}")
    assert chat["cases"] == 3 and chat["template_in_gguf"]
    assert chat["prompts_same"] == {"cases": 3, "of": 3}
    assert chat["agreement"]["same"] == 3 and chat["finding"] is None
    assert all(r["pytorch"] for r in chat["rows"])  # a random model still answers something: the comparison is not of empty strings
    assert "answers the same" in "\n".join(chat_lines(chat))


def test_a_template_without_the_document_start_is_named_in_the_finding(tmp_path):
    chat = _check(tmp_path, bos=False)
    print(f"\nno document start: {chat['agreement']} {chat['finding']}")
    assert chat["prompts_same"] == {"cases": 0, "of": 3}
    if chat["agreement"]["same"] < 3:  # the missing start token changes what a random model answers on most prompts
        assert "without the document start '<|endoftext|>'" in chat["finding"]
    assert chat["stop_tokens"]["llama_cpp"] == ["<|endoftext|>"] == [chat["stop_tokens"]["pytorch"]]


def test_finding_names_the_cause():
    rows = [{"same": True, "pytorch": "a", "llama_cpp": "a"}, {"same": False, "pytorch": "ab", "llama_cpp": "abc"}]
    assert finding(rows[:1], None, ["</s>"], "</s>", True) is None
    assert "no chat template" in str(finding(rows, None, ["</s>"], "</s>", False))
    assert "llama.cpp stops at '</s>', the model ends its answers with '<|im_end|>'" in str(finding(rows, None, ["</s>"], "<|im_end|>", True))
    assert "continues past" in str(finding(rows, None, ["</s>"], "</s>", True))
    rows[1]["llama_cpp"] = "x"
    assert "near-tied" in str(finding(rows, None, ["</s>"], "</s>", True))
    assert str(finding(rows, "the template differs", ["</s>"], "</s>", True)).startswith("1 of 2 answers differ: the template differs")


class _Words:
    """A stand-in tokenizer that decodes ids as words."""

    def decode(self, ids, skip_special_tokens=False):
        return " ".join(f"t{i}" for i in ids)


def test_prompt_difference_in_words():
    assert prompt_difference(_Words(), [1, 2, 3], [1, 2, 3]) is None
    assert "without the document start 't0'" in str(prompt_difference(_Words(), [0, 2, 3], [2, 3]))
    assert "from token 1 on" in str(prompt_difference(_Words(), [0, 2, 3], [0, 5, 3]))
