"""The ``training_examples`` option: which examples a run makes (``all``, ``files`` for continued
pretraining, ``tasks`` for the line answers and FIM), so two runs chained with ``--from`` are the
usual two stages; a bad value is refused before any file is read."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import DOMAIN
from custom_llm import ConfigError, Document
from custom_llm.testing import domain_examples, run_domain
from custom_llm_codebase.fim import DEFAULT_SET, FimTokens, parse_fim
from custom_llm_codebase.languages import header

SOURCE = "".join(
    f"class Shape{n}:\n"
    f'    """A shape with {n} sides."""\n\n'
    f"    def __init__(self, size):\n"
    f"        self.size = size\n\n"
    f"    def perimeter(self):\n"
    f"        total = self.size * {n}\n"
    f"        return total\n\n\n"
    f"def make_shape_{n}(size):\n"
    f"    shape = Shape{n}(size)\n"
    f"    return shape.perimeter()\n\n\n"
    for n in (3, 4, 5, 6)
)
DOCUMENT = Document(text=SOURCE, source="pkg/shapes.py", metadata={"language": "python"})
# the examples of ``all`` for seeds 0-4 with fim_rate 0.5 and no tokenizer (the default sentinels),
# as the code before this option made them: ``all`` must stay exactly that
ALL_DIGEST = "0f5028f7ea088dd78227b7703ae8e451be1aa7a962c454ed6db879fdfa010e3d"


@pytest.fixture(scope="module")
def tokenizer():
    """A small BPE tokenizer trained on the file, with the FIM sentinels (as a scratch run trains one)."""
    from custom_llm.data.tokenization import train_bpe_tokenizer

    return train_bpe_tokenizer(iter([SOURCE] * 4), 400, list(DEFAULT_SET))


def digest(examples_by_seed: list[list]) -> str:
    rows = [[[e.kind, e.prompt, e.completion, e.metadata] for e in examples] for examples in examples_by_seed]
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def test_all_is_the_default_and_unchanged(plugins):
    made = [domain_examples(DOMAIN, DOCUMENT, plugins, seed=seed) for seed in range(5)]
    assert [domain_examples(DOMAIN, DOCUMENT, plugins, seed=seed, training_examples="all") for seed in range(5)] == made
    kinds = {e.kind for examples in made for e in examples}
    assert {"causal", "unit"} < kinds and kinds & {"fim_psm", "fim_spm"}  # some seeds draw a FIM sequence, at fim_rate
    assert digest(made) == ALL_DIGEST


def test_files_makes_the_files_and_units_without_any_fim(plugins):
    for seed in range(5):
        examples = domain_examples(DOMAIN, DOCUMENT, plugins, seed=seed, fim_rate=1.0, training_examples="files")
        assert examples[0].kind == "causal" and examples[0].completion == header("pkg/shapes.py", "python") + SOURCE
        assert {e.kind for e in examples} == {"causal", "unit"} and len(examples) == 1 + 12  # 4 functions, 8 methods
        assert all(not e.prompt and not any(token in e.completion for token in DEFAULT_SET) for e in examples)
        everything = domain_examples(DOMAIN, DOCUMENT, plugins, seed=seed, fim_rate=1.0)
        assert [e for e in everything if not e.kind.startswith("fim_")] == examples


def test_tasks_makes_line_answers_and_one_fim_sequence_per_file(plugins, tokenizer):
    lines = SOURCE.split("\n")
    kinds = set()
    for seed in range(5):
        examples = domain_examples(DOMAIN, DOCUMENT, plugins, seed=seed, tokenizer=tokenizer, seq_len=128, training_examples="tasks")
        answers = [e for e in examples if e.prompt]
        (fim,) = [e for e in examples if not e.prompt]  # at every seed, though fim_rate is 0.5
        assert len(answers) == 8 and {e.kind for e in answers} <= {"code_line", "code_fim_line"}
        for example in answers:
            assert example.completion == lines[example.metadata["line"] - 1] and example.completion.strip()
            before = example.prompt.removeprefix(DEFAULT_SET[0]).split(DEFAULT_SET[1])[0]  # a FIM prompt: up to the suffix
            assert before.startswith(header("pkg/shapes.py", "python"))
            assert ("\n".join(lines[: example.metadata["line"] - 1]) + "\n").endswith(before.split("\n", 2)[2])  # the code before it
        mode = fim.kind.removeprefix("fim_")
        prefix, middle, suffix = parse_fim(fim.completion, FimTokens(*DEFAULT_SET), mode, fim.metadata["prefix_chars"])
        assert prefix + middle + suffix == SOURCE  # the whole file, as a FIM sequence
        assert not any(e.kind in ("causal", "unit") for e in examples)
        kinds |= {e.kind for e in answers}
    assert kinds == {"code_line", "code_fim_line"}


def test_tasks_skip_the_fim_sequence_of_a_file_that_spells_a_sentinel(plugins, tokenizer):
    text = SOURCE + f"SENTINEL = {DEFAULT_SET[0]!r}\n"
    document = Document(text=text, source="pkg/fim.py", metadata={"language": "python"})
    examples = domain_examples(DOMAIN, document, plugins, tokenizer=tokenizer, seq_len=128, training_examples="tasks")
    assert examples == []  # no FIM sequence and no answers: either would make the layout ambiguous


def test_a_bad_value_is_refused_naming_the_allowed_ones(plugins, tmp_path):
    with pytest.raises(ConfigError, match="training_examples must be one of all, files, tasks, not 'everything'"):
        domain_examples(DOMAIN, DOCUMENT, plugins, training_examples="everything")

    from custom_llm.cli import main

    source = tmp_path / "repo"
    source.mkdir()
    (source / "shapes.py").write_text(SOURCE)
    arguments = ["run", "--domain", DOMAIN, "--source", str(source), "--output", str(tmp_path / "run")]
    result = CliRunner().invoke(main, [*arguments, "--option", "training_examples=everything", "--recipe", "scratch", "--quiet"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = [line for line in result.output.splitlines() if line.strip()]
    assert line == "error: codebase option training_examples must be one of all, files, tasks, not 'everything'."
    assert not (tmp_path / "run" / "report.json").exists()


@pytest.mark.slow
def test_a_tasks_run_trains_on_the_answers_and_reports(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for n in range(4):
        (repo / f"shapes_{n}.py").write_text(SOURCE.replace("Shape", f"Shape{n}_"))
    report = run_domain(DOMAIN, [repo], tmp_path / "tasks", "--option", "training_examples=tasks", "--seq-len", "128")
    assert report["training"]["steps_done"] == 6 and "training_examples: tasks" in (tmp_path / "tasks" / "config.yaml").read_text()
    (stats,) = [json.loads(p.read_text()) for p in Path(os.environ["CUSTOM_LLM_CACHE_DIR"]).glob("pack-*/stats.json")]
    train = stats["train"]
    assert 0 < train["target_tokens"] < train["real_tokens"]  # the answers' prompts are masked: not targets
    files = report["data"]["train_documents"]
    assert train["examples_with_prompt"] == 8 * files and train["examples"] == 9 * files  # 8 line answers and one FIM sequence a file
    for model in ("base", "tuned"):
        assert 0.0 <= report[model]["code-exact"]["rest_of_line_chars_matched"] <= 1.0
