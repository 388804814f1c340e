"""`custom-llm export`: the exported model is the trained model.

Two tiny runs are exported: a LoRA run on a tiny Llama base that has a chat template (the pretrained
path) and a scratch run (Mistral, tied embeddings). The GGUF files are read back with transformers'
own GGUF loader and compared with the run's model on text neither run trained on: bits per byte,
and greedy completions for f16. The merged hf folder gives the logits of base + adapter. The Ollama
TEMPLATE is executed (a small interpreter of the Go template subset it uses) and compared with the
tokenizer's chat template. Bad input is refused with one line, and a failed export leaves the
previous one intact."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pytest
from click.testing import CliRunner

from custom_llm.cli import main
from custom_llm.deploy import export as deploy
from custom_llm.deploy import fidelity, formats, ollama, records, run_model, tokens
from custom_llm.testing import make_tiny_model, run_domain

pytest.importorskip("gguf")

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SMOLLM2_TEMPLATE = (  # SmolLM2-Instruct's, with its default system prompt
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful "
    "AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CLICK_FILES = sorted(Path(click.__file__).parent.glob("*.py"))
HELD_OUT = [p for p in CLICK_FILES if p.stem in ("termui", "formatting")]  # never given to either run
PROMPTS = ["def get_terminal_size(", "class HelpFormatter:\n    ", "    if not isinstance(value, str):\n"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("deploy")
    corpus = root / "corpus"
    corpus.mkdir()
    for path in CLICK_FILES:
        if path not in HELD_OUT:
            shutil.copy(path, corpus / f"{path.stem}.txt")
    base = make_tiny_model(root / "base", [p.read_text() for p in CLICK_FILES if p not in HELD_OUT])
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(base)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CUSTOM_LLM_CACHE_DIR", str(root / "cache"))
        patch.setenv("CUSTOM_LLM_REGISTRY", str(root / "runs.sqlite3"))
        patch.delenv("CUSTOM_LLM_LOAD_PLUGINS", raising=False)
        # a high learning rate, so the adapter moves the logits far more than the tolerances below
        run_domain("text", [corpus], root / "lora", "--recipe", "lora", "--base-model", str(base), "--learning-rate", "0.01")
        run_domain("text", [corpus], root / "scratch")
        # instruction pairs, laid out with the base's chat template: the one run whose export keeps it
        chats = root / "chats"
        chats.mkdir()
        for path in CLICK_FILES:  # short pairs: an instruction example longer than a block is left out
            if path not in HELD_OUT:
                pair = [{"role": "user", "content": f"{path.stem}?"}, {"role": "assistant", "content": path.read_text()[:60]}]
                (chats / f"{path.stem}.jsonl").write_text(json.dumps({"messages": pair}) + "\n")
        run_domain("text", [chats], root / "chat", "--recipe", "lora", "--base-model", str(base))
    held_out = [p.read_text()[:6000] for p in HELD_OUT]
    return SimpleNamespace(root=root, lora=root / "lora", scratch=root / "scratch", chat=root / "chat", base=base, held_out=held_out, exports={})


@pytest.fixture(autouse=True)
def _the_runs_cache(runs, monkeypatch):
    """Exports read the run's packing figures from its stage cache, as under the same environment the run had."""
    monkeypatch.setenv("CUSTOM_LLM_CACHE_DIR", str(runs.root / "cache"))


def exported(runs: SimpleNamespace, run: str, fmt: str, quantization: str | None = None) -> records.ExportResult:
    """Each (run, format, quantization) exported once for the module, to RUN/exports/."""
    key = (run, fmt, quantization)
    if key not in runs.exports:
        runs.exports[key] = deploy.export_run(getattr(runs, run), fmt, quantization=quantization)
    return runs.exports[key]


def logits(model: Any, tokenizer: Any, text: str) -> Any:
    import torch

    ids = tokenizer(text, add_special_tokens=False)["input_ids"][:200]
    with torch.no_grad():
        return model(torch.tensor([[tokenizer.eos_token_id, *ids]])).logits


def test_hf_folder_is_base_plus_adapter_merged(runs, capsys):
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    result = exported(runs, "lora", "hf")
    folder = result.folder
    assert folder == (runs.lora / "exports" / "hf").resolve()
    names = {p.name for p in folder.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "chat_template.jinja",
        "README.md",
        "export.json",
    } <= names
    assert "adapter_config.json" not in names and not any(n.startswith(".") for n in names)
    with safe_open(folder / "model.safetensors", "pt") as weights:
        assert not [k for k in weights.keys() if "lora" in k or "base_layer" in k or "token_adapter" in k]
    assert json.loads((folder / "tokenizer_config.json").read_text())["chat_template"] == CHAT_TEMPLATE  # older readers look here
    assert json.loads((folder / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]

    merged = AutoModelForCausalLM.from_pretrained(folder).eval()  # plain transformers, no peft
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.chat_template == CHAT_TEMPLATE
    trained, trained_tokenizer = run_model.load_run_model(runs.lora)
    base = AutoModelForCausalLM.from_pretrained(runs.base).eval()
    base.resize_token_embeddings(len(trained_tokenizer))
    text = runs.held_out[0] + " <|user|> hi <|assistant|>"  # the run's added tokens, trained as peft trainable tokens
    assert tokenizer(text)["input_ids"] == trained_tokenizer(text)["input_ids"]
    expected = logits(trained, trained_tokenizer, text)
    difference = (logits(merged, tokenizer, text) - expected).abs().max().item()
    adapter_effect = (logits(base, trained_tokenizer, text)[..., :-3] - expected[..., :-3]).abs().max().item()
    with capsys.disabled():
        print(f"\nmerged hf folder vs base + adapter: max |logit difference| {difference:.2e} (the adapter itself moves them {adapter_effect:.2f})")
    assert difference < 1e-4
    assert adapter_effect > 100 * 1e-4  # a merge that lost the adapter would fail the assertion above


@pytest.mark.parametrize("run", ["lora", "scratch"])
@pytest.mark.parametrize(("quantization", "tolerance"), [("f16", 0.005), ("q8_0", 0.03)])
def test_gguf_is_the_trained_model(runs, run, quantization, tolerance, capsys):
    from custom_llm.generation import greedy_generate

    result = exported(runs, run, "gguf", quantization)
    assert [f.path for f in result.files] == [f"{run}-{quantization}.gguf"]
    trained, tokenizer = run_model.load_run_model(getattr(runs, run))
    loaded, loaded_tokenizer = fidelity.load_gguf(result.gguf)
    for text in (runs.held_out[1][:500], "<|user|>x<|endoftext|> ünïcödé"):
        assert loaded_tokenizer(text, add_special_tokens=False)["input_ids"] == tokenizer(text, add_special_tokens=False)["input_ids"]
    assert (loaded_tokenizer.eos_token_id, loaded_tokenizer.pad_token_id) == (tokenizer.eos_token_id, tokenizer.pad_token_id)
    assert loaded_tokenizer.chat_template is None  # both runs trained plain text; a chat-trained run keeps it (test below)
    pytorch = fidelity.bits_per_byte(trained, tokenizer, runs.held_out)
    gguf = fidelity.bits_per_byte(loaded, loaded_tokenizer, runs.held_out)
    change = gguf.bits_per_byte / pytorch.bits_per_byte - 1
    with capsys.disabled():
        print(
            f"\n{run} {quantization}: PyTorch {pytorch.bits_per_byte:.4f}, GGUF {gguf.bits_per_byte:.4f} bits per byte "
            f"({change:+.3%}) on {pytorch.tokens:,} held-out tokens, {pytorch.bytes:,} bytes"
        )
    assert gguf.bytes == pytorch.bytes and gguf.tokens == pytorch.tokens
    assert abs(change) < tolerance
    if quantization == "f16":  # greedy text agrees; a tiny model's near-tied logits may flip one prompt under f16 rounding
        same = [greedy_generate(loaded, loaded_tokenizer, prompt, 16) == greedy_generate(trained, tokenizer, prompt, 16) for prompt in PROMPTS]
        assert sum(same) >= len(PROMPTS) - 1, same


@pytest.mark.parametrize(("quantization", "tolerance"), [("q5_0", 0.03), ("q4_0", 0.06)])
def test_block_quantized_gguf_is_the_trained_model(runs, quantization, tolerance, capsys):
    """q5_0 and q4_0, written by custom-llm itself: read back by transformers' GGUF loader, close to the
    trained model, and their tensor types as the export reports them."""
    import gguf

    result = exported(runs, "lora", "gguf", quantization)
    from collections import Counter

    matrices = {t.name: t.tensor_type.name for t in gguf.GGUFReader(result.gguf).tensors if len(t.shape) == 2}
    output = "output.weight" if "output.weight" in matrices else "token_embd.weight"
    assert matrices.pop(output) == "Q8_0" and set(matrices.values()) == {quantization.upper()}  # as llama-quantize lays it out
    report = result.extra["tensors"]
    assert report["types"] == dict(Counter([*matrices.values(), "Q8_0"])) and report["fallbacks"] == {}
    assert report["quantized_by"].startswith("custom-llm's writer")
    trained, tokenizer = run_model.load_run_model(runs.lora)
    loaded, loaded_tokenizer = fidelity.load_gguf(result.gguf)
    pytorch = fidelity.bits_per_byte(trained, tokenizer, runs.held_out)
    quantized = fidelity.bits_per_byte(loaded, loaded_tokenizer, runs.held_out)
    change = quantized.bits_per_byte / pytorch.bits_per_byte - 1
    with capsys.disabled():
        print(
            f"\nlora {quantization}: PyTorch {pytorch.bits_per_byte:.4f}, GGUF {quantized.bits_per_byte:.4f} ({change:+.3%}) "
            f"on {pytorch.tokens:,} tokens"
        )
    assert quantized.tokens == pytorch.tokens and abs(change) < tolerance


@pytest.mark.parametrize(
    ("quantization", "tolerance"), [("f16", 0.005), ("q8_0", 0.01), ("q5_k_m", 0.03), ("q5_0", 0.03), ("q4_k_m", 0.06), ("q4_0", 0.06)]
)
def test_gguf_runs_in_llama_cpp(runs, quantization, tolerance, capsys):
    """Every quantization loads in llama.cpp itself and scores held-out text close to PyTorch."""
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (optional: pip install 'custom-llm[llamacpp]')")
    import numpy as np

    result = exported(runs, "lora", "gguf", quantization)
    trained, tokenizer = run_model.load_run_model(runs.lora)
    text = runs.held_out[0][:2000]
    ids = [tokenizer.eos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"]][:256]
    llm = llama_cpp.Llama(model_path=str(result.gguf), n_ctx=512, logits_all=True, verbose=False)
    assert llm.tokenize(text.encode(), add_bos=False, special=True)[:50] == ids[1:51]
    llm.eval(ids)
    scores = np.asarray(llm.scores[: len(ids)], dtype=np.float64)
    top = scores.max(-1, keepdims=True)
    log_probs = scores - top - np.log(np.exp(scores - top).sum(-1, keepdims=True))
    cpp_nll = -log_probs[np.arange(len(ids) - 1), ids[1:]].sum()
    import torch

    with torch.no_grad():
        reference = torch.log_softmax(trained(torch.tensor([ids])).logits[0].double(), -1)
    torch_nll = -reference[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].sum().item()
    with capsys.disabled():
        print(f"\nllama.cpp {quantization}: {cpp_nll / torch_nll - 1:+.3%} log-likelihood against PyTorch on {len(ids) - 1} tokens")
    assert abs(cpp_nll / torch_nll - 1) < tolerance


@pytest.mark.parametrize("quantization", ["q4_k_m", "q5_k_m"])
def test_a_k_quant_says_which_tensors_fell_back(runs, quantization, tmp_path):
    """llama.cpp gives a matrix whose rows are not a multiple of 256 another type: the tiny model's rows
    (32 and 64) all fall back, and the export names them as the file holds them."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (optional: pip install 'custom-llm[llamacpp]')")
    import gguf

    console = SimpleNamespace(lines=[], quiet=False)
    console.print = console.lines.append
    result = deploy.export_run(runs.chat, "gguf", out=tmp_path / quantization, quantization=quantization, console=console)
    reader = gguf.GGUFReader(result.gguf)
    matrices = {t.name: t.tensor_type.name for t in reader.tensors if len(t.shape) == 2}
    report = result.extra["tensors"]
    assert report["fallbacks"] == {name: kind for name, kind in matrices.items() if kind not in ("Q4_K", "Q5_K", "Q6_K")}
    assert report["fallbacks"] and set(report["fallbacks"].values()) <= {"Q5_0", "Q5_1", "Q8_0", "F16"}
    assert report["quantized_by"].startswith("llama.cpp's quantizer") and not list(tmp_path.rglob(".*f32.gguf"))
    line = next(line for line in console.lines if "fell back" in line)
    assert f"{len(report['fallbacks'])} matrices" in line and "blk.*.attn_q" in line
    assert "tokenizer.chat_template" in reader.fields  # llama.cpp's quantizer keeps the metadata
    receipt = json.loads((result.folder / "export.json").read_text())
    assert receipt["tensors"]["fallbacks"] == report["fallbacks"]
    # what the fallbacks cost, measured through llama.cpp on the run's held-out documents, in the record, on the console, in the card
    check = receipt["llama_cpp_check"]
    assert check["tokens"] > 100 and check["documents"] >= 1 and check["chunks"] >= 1
    assert check["bits_per_byte_llama_cpp"] != check["bits_per_byte_pytorch"] and abs(check["change"]) < 0.06
    low, high = check["change_interval"]
    assert low <= check["change"] <= high
    cost = next(line for line in console.lines if line.startswith("cost through llama.cpp"))
    assert f"on {check['tokens']:,} held-out tokens" in cost
    card = (runs.chat / "model" / "README.md").read_text()
    assert f"{quantization}: {len(report['fallbacks'])} of {report['matrices']} matrices fell back" in card and cost in card


# --- Ollama ------------------------------------------------------------------------------------


def go_render(template: str, data: dict[str, Any]) -> str:
    """Execute the Go text/template subset the Modelfile TEMPLATE uses: if / else if / else / end,
    range with an index variable, variable assignment, fields, and eq, not, len, slice."""
    assert "{{-" not in template and "-}}" not in template
    tokens = [(p[2:-2].strip(), True) if p.startswith("{{") else (p, False) for p in re.split(r"(\{\{.*?\}\})", template, flags=re.S) if p]
    position = 0

    def block(stops: tuple[str, ...]) -> tuple[list[Any], str]:
        nonlocal position
        nodes: list[Any] = []
        while position < len(tokens):
            text, action = tokens[position]
            position += 1
            if not action:
                nodes.append(("text", text))
                continue
            word = text.split()[0]
            if word in stops:
                return nodes, text
            if word == "if":
                branches, condition = [], text[3:]
                while True:
                    body, end = block(("else", "end"))
                    branches.append((condition, body))
                    if end == "end":
                        break
                    if end.startswith("else if"):
                        condition = end[len("else if") :]
                    else:
                        body, _ = block(("end",))
                        branches.append(("true", body))
                        break
                nodes.append(("if", branches))
            elif word == "range":
                match = re.fullmatch(r"range (\$\w+), (\$\w+) := (.+)", text)
                assert match, text
                body, _ = block(("end",))
                nodes.append(("range", match.group(1), match.group(2), match.group(3), body))
            elif re.fullmatch(r"\$\w+ :?= .+", text):
                name, expression = text.split("=", 1)
                nodes.append(("set", name.rstrip(":").strip(), expression))
            else:
                nodes.append(("out", text))
        return nodes, ""

    def parse(expression: str) -> Any:
        items = re.findall(r'\(|\)|"[^"]*"|[^\s()]+', expression)

        def group(index: int) -> tuple[list[Any], int]:
            out: list[Any] = []
            while index < len(items) and items[index] != ")":
                if items[index] == "(":
                    inner, index = group(index + 1)
                    out.append(inner)
                else:
                    out.append(items[index])
                index += 1
            return out, index

        return group(0)[0]

    def evaluate(node: Any, dot: Any, scope: dict[str, Any]) -> Any:
        if isinstance(node, list):
            if len(node) == 1:
                return evaluate(node[0], dot, scope)
            function, *arguments = node
            values = [evaluate(a, dot, scope) for a in arguments]
            return {"eq": lambda a, b: a == b, "not": lambda a: not a, "len": len, "slice": lambda s, i: s[i:]}[function](*values)
        if node == "true":
            return True
        if node.startswith('"'):
            return node[1:-1]
        if node.isdigit():
            return int(node)
        if node.startswith("$."):
            return data[node[2:]]
        if node.startswith("$"):
            return scope[node]
        assert node.startswith("."), node
        return dot[node[1:]]

    def execute(nodes: list[Any], dot: Any, scope: dict[str, Any]) -> str:
        out = ""
        for node in nodes:
            if node[0] == "text":
                out += node[1]
            elif node[0] == "out":
                out += str(evaluate(parse(node[1]), dot, scope))
            elif node[0] == "set":
                scope[node[1]] = evaluate(parse(node[2]), dot, scope)
            elif node[0] == "if":
                for condition, body in node[1]:
                    if evaluate(parse(condition), dot, scope):
                        out += execute(body, dot, dict(scope))
                        break
            elif node[0] == "range":
                for index, item in enumerate(evaluate(parse(node[3]), dot, scope)):
                    out += execute(node[4], item, {**scope, node[1]: index, node[2]: item})
        return out

    tree, _ = block(())
    return execute(tree, data, {})


CONVERSATIONS = [
    [{"role": "user", "content": "What does --help print?"}],
    [{"role": "system", "content": "You answer in one line."}, {"role": "user", "content": "Name a click decorator."}],
    [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! Ask me about click."},
        {"role": "user", "content": "How do I add an option?\nWith a default?"},
    ],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ],
]


def ollama_values(messages: list[dict[str, str]]) -> dict[str, Any]:
    """What Ollama hands its template: the system messages joined as .System, every message in .Messages."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    return {"System": system, "Messages": [{"Role": m["role"], "Content": m["content"]} for m in messages]}


def test_ollama_modelfile_holds_the_trained_layout(runs):
    """Instruction pairs laid out with the chat template: the Modelfile's TEMPLATE is that template."""
    from transformers import AutoTokenizer

    result = exported(runs, "chat", "ollama")
    assert result.folder == (runs.chat / "exports" / "ollama-f16").resolve()
    assert sorted(f.path for f in result.files) == ["Modelfile", "chat-f16.gguf"]
    text = (result.folder / "Modelfile").read_text()
    assert "FROM ./chat-f16.gguf\n" in text and (result.folder / "chat-f16.gguf").is_file()
    assert "training examples were instruction pairs laid out with the chat template" in text
    assert 'PARAMETER stop "<|endoftext|>"' in text and 'PARAMETER stop "<|user|>"' in text
    assert "PARAMETER num_ctx 512" in text and "PARAMETER temperature" in text
    template = re.search(r'TEMPLATE """(.*?)"""', text, re.S).group(1)
    tokenizer = AutoTokenizer.from_pretrained(runs.chat / "model")
    for messages in CONVERSATIONS:
        expected = tokenizer.eos_token + tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert go_render(template, ollama_values(messages)) == expected


def test_ollama_and_llama_cpp_lay_a_conversation_out_the_same_way(runs):
    """The Modelfile's TEMPLATE (Ollama) and the GGUF's own chat template (llama.cpp's --jinja) give
    the same prompt for the same conversation: the training layout, the document start first."""
    import gguf
    from transformers import AutoTokenizer

    result = exported(runs, "chat", "ollama")
    template = re.search(r'TEMPLATE """(.*?)"""', (result.folder / "Modelfile").read_text(), re.S).group(1)
    field = gguf.GGUFReader(result.gguf).fields["tokenizer.chat_template"]
    embedded = bytes(field.parts[field.data[0]]).decode()
    tokenizer = AutoTokenizer.from_pretrained(runs.chat / "model")
    formatter = llm = None
    if importlib.util.find_spec("llama_cpp") is not None:  # llama-cpp-python's own renderer and llama.cpp's tokenizer
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        formatter = Jinja2ChatFormatter(embedded, eos_token=tokenizer.eos_token, bos_token=tokenizer.bos_token or "")
        llm = llama_cpp.Llama(model_path=str(result.gguf), vocab_only=True, verbose=False)
    for messages in CONVERSATIONS:
        ollama = go_render(template, ollama_values(messages))
        gguf_prompt = tokenizer.apply_chat_template(messages, chat_template=embedded, tokenize=False, add_generation_prompt=True)
        assert gguf_prompt == ollama and ollama.startswith(tokenizer.eos_token + "<|")
        ids = tokenizer(ollama, add_special_tokens=False)["input_ids"]
        assert ids[0] == tokenizer.eos_token_id
        if formatter is not None and llm is not None:
            assert formatter(messages=messages).prompt == ollama
            assert llm.tokenize(ollama.encode(), add_bos=False, special=True) == ids


def test_a_tokenizer_that_adds_bos_leaves_the_start_to_the_runtime(runs):
    """Where the tokenizer adds its own BOS (the document start then), llama.cpp and Ollama add it from
    the GGUF's add_bos_token: neither the TEMPLATE nor the GGUF's template may write a second one."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(runs.chat / "model")
    tokenizer.add_special_tokens({"bos_token": "<|begin|>"})
    tokenizer.add_bos_token = True
    tokenizer.chat_template = "{{ bos_token }}" + CHAT_TEMPLATE
    assert tokens.document_start(tokenizer) == ""
    assert tokens.trained_chat_template(tokenizer) == tokenizer.chat_template
    layout = ollama.chat_layout(tokenizer)
    assert layout.start == "" and "<|begin|>" not in layout.go_template()
    for messages in CONVERSATIONS:
        expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert "<|begin|>" + go_render(layout.go_template(), ollama_values(messages)) == expected
    plain = AutoTokenizer.from_pretrained(runs.chat / "model")
    assert tokens.document_start(plain) == plain.eos_token == "<|endoftext|>"
    assert tokens.trained_chat_template(plain) == '{{ "<|endoftext|>" }}' + CHAT_TEMPLATE


def test_ollama_template_of_a_template_with_a_default_system_prompt(runs):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(runs.lora / "model")
    tokenizer.add_special_tokens({"eos_token": "<|im_end|>", "extra_special_tokens": ["<|im_start|>"]}, replace_extra_special_tokens=False)
    tokenizer.chat_template = SMOLLM2_TEMPLATE
    layout = ollama.chat_layout(tokenizer)
    assert layout.stops == ["<|im_end|>", "<|im_start|>"]
    assert "You are a helpful AI assistant named SmolLM" in layout.preamble
    for messages in CONVERSATIONS:
        expected = "<|im_end|>" + tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert go_render(layout.go_template(), ollama_values(messages)) == expected
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] | upper }}{% endfor %}"
    with pytest.raises(formats.ExportError, match="cannot be written as an Ollama TEMPLATE"):
        ollama.chat_layout(tokenizer)


def test_ollama_template_of_a_model_without_chat_template(runs):
    result = exported(runs, "scratch", "ollama", "q8_0")
    text = (result.folder / "Modelfile").read_text()
    assert 'TEMPLATE """<|endoftext|>{{ .Prompt }}"""' in text and "FROM ./scratch-q8_0.gguf" in text
    assert "PARAMETER num_ctx 256" in text


# --- records, atomicity, refusals ---------------------------------------------------------------


def test_hashes_are_recorded_in_the_manifest_and_the_model_card(runs):
    from custom_llm.run.cache import file_digest

    result = exported(runs, "lora", "gguf", "q8_0")
    manifest = json.loads((runs.lora / "manifest.json").read_text())
    assert manifest["files"] and manifest["stage_keys"]  # the run's own record is kept
    record = next(r for r in manifest["exports"] if r["folder"] == str(result.folder))
    assert record["format"] == "gguf" and record["quantization"] == "q8_0"
    (item,) = record["files"]
    assert item["blake2b"] == file_digest(result.gguf) and item["bytes"] == result.gguf.stat().st_size
    receipt = json.loads((result.folder / "export.json").read_text())
    assert receipt["files"] == record["files"] and receipt["run"] == str(runs.lora.resolve())
    for card in (runs.lora / "model" / "README.md", runs.lora / "README.md"):
        text = card.read_text()
        assert text.count("## Exports") == 1 and item["blake2b"] in text and "## Evaluation" in text
    # `custom-llm eval` rewrites manifest and card: the exports come back from RUN/exports.json
    (runs.lora / "manifest.json").write_text(json.dumps({k: v for k, v in manifest.items() if k != "exports"}))
    records.apply_records(runs.lora)
    assert json.loads((runs.lora / "manifest.json").read_text())["exports"] == manifest["exports"]
    assert (runs.lora / "model" / "README.md").read_text().count("## Exports") == 1


def test_a_failed_export_leaves_the_previous_one_intact(runs, tmp_path, monkeypatch):
    from custom_llm.deploy import gguf_writer

    out = tmp_path / "released"
    first = deploy.export_run(runs.scratch, "gguf", out=out, quantization="q8_0")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def killed(model, tokenizer, path, file_type):
        Path(path).write_bytes(b"GGUF half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(gguf_writer, "write_gguf", killed)
    with pytest.raises(KeyboardInterrupt):
        deploy.export_run(runs.scratch, "gguf", out=out, quantization="q8_0")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["released"]  # no partial folder left
    monkeypatch.undo()
    (tmp_path / ".released.partial").mkdir()  # what a SIGKILL leaves
    (tmp_path / ".released.partial" / "scratch-q8_0.gguf").write_bytes(b"GGUF")
    again = deploy.export_run(runs.scratch, "gguf", out=out, quantization="q8_0")  # a previous export is replaced
    assert again.files == first.files and sorted(p.name for p in tmp_path.iterdir()) == ["released"]


def _one_line_error(*arguments: str) -> str:
    result = CliRunner().invoke(main, ["export", *arguments])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_bad_input_is_refused_in_one_line(runs, tmp_path):
    assert "does not exist" in _one_line_error(str(tmp_path / "nowhere"), "--format", "gguf")
    (tmp_path / "empty-run").mkdir()
    assert "holds no trained model" in _one_line_error(str(tmp_path / "empty-run"), "--format", "gguf")
    assert "unknown export format 'zip'" in _one_line_error(str(runs.scratch), "--format", "zip")
    assert "unsupported GGUF quantization 'q3_k_m'" in _one_line_error(str(runs.scratch), "--format", "gguf", "--quantization", "q3_k_m")
    assert "does not apply to --format hf" in _one_line_error(str(runs.scratch), "--format", "hf", "--quantization", "q8_0")
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    line = _one_line_error(str(runs.scratch), "--format", "gguf", "--out", str(occupied))
    assert "is not empty" in line and (occupied / "notes.txt").read_text() == "mine"
    unknown = tmp_path / "unknown-run" / "model"  # an architecture neither custom-llm's writer nor llama.cpp's converter knows
    unknown.mkdir(parents=True)
    (unknown / "config.json").write_text(json.dumps({"architectures": ["MadeUpForCausalLM"], "model_type": "made_up"}))
    line = _one_line_error(str(unknown.parent), "--format", "ollama")
    assert "MadeUpForCausalLM" in line and "--format hf" in line
    assert not list(tmp_path.glob(".*.partial")) and not (runs.scratch / "exports" / "gguf-q4_k_m").exists()


def test_cli_export_prints_the_files_and_the_next_step(runs, tmp_path):
    result = CliRunner().invoke(main, ["export", str(runs.scratch), "--format", "ollama", "--out", str(tmp_path / "ollama")])
    assert result.exit_code == 0, result.output
    assert "Modelfile" in result.output and "blake2b" in result.output and "ollama create NAME -f Modelfile" in result.output
    # the llama.cpp commands current llama.cpp takes: llama-cli (chat, no -cnv), llama-completion (plain, the start token first)
    assert "llama-completion -m " in deploy.next_step(exported(runs, "scratch", "gguf", "q8_0")) and "-p '<|endoftext|>" in deploy.next_step(
        exported(runs, "scratch", "gguf", "q8_0")
    )
    chat = deploy.next_step(exported(runs, "chat", "gguf"))
    assert "llama-cli -m " in chat and "--jinja" in chat and "-cnv" not in chat


def test_a_k_quant_without_llama_cpp_is_refused_before_any_work(runs, tmp_path, monkeypatch):
    from custom_llm.deploy import gguf_quantize

    monkeypatch.setattr(gguf_quantize, "llama_cpp_installed", lambda: False)
    for quantization in ("q4_k_m", "q5_k_m"):
        line = _one_line_error(str(runs.scratch), "--format", "gguf", "--quantization", quantization, "--out", str(tmp_path / "k"))
        assert "pip install 'custom-llm[llamacpp]'" in line and quantization in line
    assert not list(tmp_path.iterdir())
    from custom_llm.config import build_config
    from custom_llm.errors import ConfigError

    with pytest.raises(ConfigError, match="llamacpp"):
        build_config({"export_formats": ["ollama:q4_k_m"]}, {})


def test_export_formats_setting(runs, tmp_path):
    from custom_llm.config import build_config
    from custom_llm.errors import ConfigError

    config = build_config({"export_formats": ["gguf:q8_0", "hf"]}, {})
    for bad, message in ((["gguf:q4_k"], "unsupported GGUF quantization"), (["zip"], "unknown export format"), ([3], "export_formats")):
        with pytest.raises(ConfigError, match=message):
            build_config({"export_formats": bad}, {})
    copy = tmp_path / "scratch"
    shutil.copytree(runs.scratch, copy, ignore=shutil.ignore_patterns("exports", "exports.json"))
    results = deploy.export_configured(SimpleNamespace(config=config, output=copy, console=None))
    assert [(r.format, r.quantization, r.folder.name) for r in results] == [("gguf", "q8_0", "gguf-q8_0"), ("hf", "f32", "hf")]


def test_a_run_with_export_formats_exports_after_its_report(runs, tmp_path):
    """`export_formats` in the config: the run ends with the exports made and recorded."""
    config = tmp_path / "export.yaml"
    config.write_text("export_formats: [gguf:q8_0]\n")
    corpus = runs.root / "corpus"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CUSTOM_LLM_CACHE_DIR", str(runs.root / "cache"))
        patch.setenv("CUSTOM_LLM_REGISTRY", str(runs.root / "runs.sqlite3"))
        run_domain("text", [corpus], tmp_path / "run", "--config", str(config))
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["exports"], manifest.keys()
    written = [Path(f) for f in (tmp_path / "run" / "exports").rglob("*.gguf")]
    assert len(written) == 1 and written[0].stat().st_size > 0


def test_out_replaces_only_an_earlier_export_of_the_same_run_and_format(runs, tmp_path):
    """`export --format ollama --out RUN/exports/hf` once deleted the merged model: refused now."""
    out = tmp_path / "hf"
    first = deploy.export_run(runs.scratch, "hf", out=out)
    before = {f.path: f.blake2b for f in first.files}
    line = _one_line_error(str(runs.scratch), "--format", "ollama", "--out", str(out))
    assert "holds the hf export" in line and "not replaced by a ollama export" in line
    line = _one_line_error(str(runs.lora), "--format", "hf", "--out", str(out))
    assert "holds the hf export of the run" in line and str(runs.scratch.resolve()) in line
    assert {p.name for p in out.iterdir()} == set(before) | {"export.json", "README.md"}
    again = deploy.export_run(runs.scratch, "hf", out=out)  # the same run and format: replaced
    assert {f.path: f.blake2b for f in again.files} == before


def test_weights_respect_the_umask(runs, tmp_path):
    """safetensors writes ``-rw-------``; a serving account must read the weights like every other file."""
    import os

    mask = os.umask(0o022)
    try:
        result = deploy.export_run(runs.lora, "hf", out=tmp_path / "hf")
        folders = [runs.lora / "model", runs.scratch / "model", result.folder]
        weights = [p for folder in folders for p in folder.iterdir() if p.suffix == ".safetensors"]
        assert {p.name for p in weights} >= {"adapter_model.safetensors", "model.safetensors"}
        for path in [p for folder in folders for p in folder.iterdir() if p.is_file()]:
            assert path.stat().st_mode & 0o777 == 0o644, (path, oct(path.stat().st_mode))
    finally:
        os.umask(mask)


def test_cards_carry_no_local_paths_nor_source_file_names(runs, tmp_path):
    """The model card travels with the model: counts and hashes of the sources (file names can be
    personal data), no path of the machine that trained it, a loading snippet that works elsewhere."""
    merged = exported(runs, "lora", "hf")
    deploy.export_run(runs.lora, "gguf", out=tmp_path / "released", quantization="q8_0")
    manifest = json.loads((runs.lora / "manifest.json").read_text())
    assert manifest["files"] and all(Path(f["source"]).is_absolute() for f in manifest["files"])  # full paths stay there
    cards = [runs.lora / "README.md", runs.lora / "model" / "README.md", merged.folder / "README.md"]
    for card in cards:
        text = card.read_text()
        assert str(runs.root) not in text and str(tmp_path) not in text and str(runs.base) not in text, card
        assert not [f["path"] for f in manifest["files"] if f["path"] in text], card
    card = cards[0].read_text()
    assert f"| source 1 | {len(manifest['files']):,} | {sum(f['bytes'] for f in manifest['files']):,} |" in card
    assert "BASE = 'path/to/" in card and "from_pretrained(BASE)" in card
    assert "| hf | f32 | exports/hf |" in card and "| gguf | q8_0 | released |" in card


def test_a_model_trained_on_plain_text_is_exported_for_plain_completion(runs):
    """The lora run trained plain text on a base with a chat template: Ollama and llama.cpp must not
    wrap its prompts in that template (nor add the template's default system prompt)."""
    import gguf

    result = exported(runs, "lora", "ollama")
    text = (result.folder / "Modelfile").read_text()
    assert 'TEMPLATE """<|endoftext|>{{ .Prompt }}"""' in text and "none of the" in text and "plain completion" in text
    assert [line for line in text.splitlines() if line.startswith("PARAMETER stop")] == ['PARAMETER stop "<|endoftext|>"']
    reader = gguf.GGUFReader(result.gguf)
    assert "tokenizer.chat_template" not in reader.fields
    name = reader.fields["general.name"]
    held = json.loads((runs.lora / "run.json").read_text())
    expected = f"text-base-{str(held.get('run_id') or held['identity_key'])[:12]}"
    assert bytes(name.parts[name.data[0]]).decode() == expected
    chat = gguf.GGUFReader(exported(runs, "chat", "ollama").gguf)
    assert "tokenizer.chat_template" in chat.fields


def test_ollama_template_of_a_fim_trained_model(runs):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(runs.lora / "model")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<fim_prefix>", "<fim_suffix>", "<fim_middle>"]})
    layout = ollama.plain_layout(tokenizer)
    assert layout.fim == ("<fim_prefix>", "<fim_suffix>", "<fim_middle>") and layout.stops == ["<|endoftext|>"]
    template = layout.go_template()
    assert template == ("<|endoftext|>{{ if .Suffix }}<fim_prefix>{{ .Prompt }}<fim_suffix>{{ .Suffix }}<fim_middle>{{ else }}{{ .Prompt }}{{ end }}")


def test_gguf_of_a_fim_trained_model_names_its_sentinels(runs, tmp_path):
    import gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from custom_llm.deploy.gguf_writer import write_gguf

    tokenizer = AutoTokenizer.from_pretrained(runs.scratch / "model")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<fim_prefix>", "<fim_suffix>", "<fim_middle>"]})
    model = AutoModelForCausalLM.from_pretrained(runs.scratch / "model")
    model.resize_token_embeddings(len(tokenizer))
    reader = gguf.GGUFReader(write_gguf(model, tokenizer, tmp_path / "fim.gguf", "f32"))
    for key, token in (("fim_pre", "<fim_prefix>"), ("fim_suf", "<fim_suffix>"), ("fim_mid", "<fim_middle>")):
        field = reader.fields[f"tokenizer.ggml.{key}_token_id"]
        assert int(field.parts[field.data[0]][0]) == tokenizer.convert_tokens_to_ids(token)


def test_generate_prints_no_loading_bar_nor_warnings_and_ends_with_a_newline(runs):
    """A real process (pytest would swallow the warnings): stdout is the text, stderr is empty."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "custom_llm", "generate", str(runs.lora), "--prompt", "def main(", "--max-new-tokens", "4"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "PYTHONWARNINGS": "default"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("def main(") and done.stdout.endswith("\n") and not done.stdout.endswith("\n\n")
    assert done.stderr.strip() == "", done.stderr


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["run", "--no-such-option"], "No such option '--no-such-option'"),
        (["export", "somewhere"], "Missing option '--format'"),
        (["run", "--max-steps", "many"], "'many' is not a valid integer"),
        (["no-such-command"], "No such command 'no-such-command'"),
    ],
)
def test_click_usage_errors_are_one_error_line(arguments, expected):
    """docs/cli.md: a user error prints one line starting with `error:` and exits with status 2."""
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.output
    assert "--help" in lines[0]
    alone = CliRunner().invoke(main, [])  # no command: the help, not an error
    assert "Usage:" in alone.output and "Commands" in alone.output and "error:" not in alone.output


def test_a_bad_time_budget_in_a_config_file_names_the_file(tmp_path):
    config = tmp_path / "budget.yaml"
    config.write_text("time_budget: soon\n")
    result = CliRunner().invoke(main, ["run", "--config", str(config), "--dry-run"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and str(config) in lines[0] and "time_budget takes a duration" in lines[0], result.output


def test_run_into_an_existing_run_says_it_takes_its_config_or_refuses_another_domain(tmp_path):
    folder = tmp_path / "existing"
    folder.mkdir()
    (folder / "config.yaml").write_text("domain: codebase\nmax_steps: 3\n")
    refused = CliRunner().invoke(main, ["run", "--output", str(folder), "--domain", "text", "--dry-run"])
    assert refused.exit_code == 2, refused.output
    lines = [line for line in refused.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "holds a codebase run" in lines[0] and "not a text one" in lines[0], refused.output
    said = CliRunner().invoke(main, ["run", "--output", str(folder), "--source", str(tmp_path / "nowhere"), "--dry-run"])
    assert f"Using the settings of the run in {folder}" in said.output, said.output


def test_third_party_output_goes_to_the_run_log_not_the_console(runs, tmp_path):
    """A real process (pytest would swallow warnings): the console holds custom-llm's own lines only."""
    import os
    import subprocess
    import sys

    from custom_llm.testing import TINY_RUN_OPTIONS

    output = tmp_path / "run"
    command = [sys.executable, "-m", "custom_llm", "run", "--domain", "text", "--source", str(runs.root / "corpus"), "--output", str(output)]
    command += [*TINY_RUN_OPTIONS, "--recipe", "lora", "--base-model", str(runs.base)]
    environment = {**os.environ, "CUSTOM_LLM_CACHE_DIR": str(runs.root / "cache"), "CUSTOM_LLM_REGISTRY": str(tmp_path / "r.sqlite3")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=400, env={**environment, "PYTHONWARNINGS": "default"})
    assert done.returncode == 0, done.stderr[-3000:]
    console = done.stdout + done.stderr
    for stray in ("Warning:", "warnings.warn", "multivariate normal", "%|", "it/s]"):
        assert stray not in console, console[-3000:]
    log = (output / "logs" / "third_party.log").read_text()
    assert "is_gradient_checkpointing" in log or "Warning" in log, log[-2000:]


def test_the_model_card_has_cases_intervals_and_verdicts_as_report_md(runs):
    report = json.loads((runs.lora / "report.json").read_text())
    card = (runs.lora / "model" / "README.md").read_text()
    assert "| evaluator | metric | cases | base | tuned | p | verdict |" in card
    lines = {tuple(cell.strip() for cell in line.split("|")[1:3]): line for line in card.splitlines() if line.startswith("| ")}
    with_interval = 0
    for row in report["comparison"]:
        line = lines[(row["evaluator"], row["metric"])]
        if row.get("n") is not None:
            assert f"| {int(row['n']):,} |" in line, line
        if row.get("tuned_interval"):
            with_interval += 1
            assert f"[{row['tuned_interval'][0]:.4f}, {row['tuned_interval'][1]:.4f}]" in line and row["verdict"] in line, line
        assert not re.search(r"\| \d+\.0 \|", line), line  # counts as integers
    assert with_interval >= 1


@pytest.mark.parametrize("tied", [True, False])
def test_an_adapter_with_added_tokens_holds_its_rows_not_the_embedding_matrices(tmp_path, tied):
    """peft would save both full embedding matrices because the vocabulary was resized; with tied
    embeddings the added tokens' rows are the trainable-token rows and nothing else is saved; untied,
    the output layer's new rows are kept (peft's default). Either way, loading gives the same model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from custom_llm.models.tuned import save_model
    from custom_llm.testing import make_tiny_model

    base = make_tiny_model(tmp_path / "base", [p.read_text() for p in CLICK_FILES])
    if tied:  # the base on disk ties them, as SmolLM2 does
        AutoModelForCausalLM.from_pretrained(base, tie_word_embeddings=True).save_pretrained(tmp_path / "tied")
        AutoTokenizer.from_pretrained(base).save_pretrained(tmp_path / "tied")
        base = tmp_path / "tied"
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<fim_a>", "<fim_b>", "<fim_c>"]})
    model = AutoModelForCausalLM.from_pretrained(base)
    model.resize_token_embeddings(len(tokenizer))
    added = tokenizer.convert_tokens_to_ids(["<fim_a>", "<fim_b>", "<fim_c>"])
    model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", trainable_token_indices=added))
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(torch.randn_like(parameter) * 0.5)  # as if trained
    folder = save_model(SimpleNamespace(output=tmp_path / "run"), model, tokenizer)
    with safe_open(folder / "adapter_model.safetensors", "pt") as weights:
        shapes = {key: weights.get_slice(key).get_shape() for key in weights.keys()}
    assert any("trainable_tokens_delta" in key for key in shapes)
    full_matrices = [shape for shape in shapes.values() if len(tokenizer) in shape]
    assert not full_matrices if tied else full_matrices
    loaded, loaded_tokenizer = run_model.load_run_model(folder)
    ids = tokenizer("def f(x): <fim_a> return <fim_b> x <fim_c>", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = model.eval()(input_ids=ids).logits
        assert torch.allclose(loaded(input_ids=ids).logits, expected, atol=1e-5)
