"""General ability: the retention verdict flags a tuned model more than the tolerance worse and
only then; the general corpus is chosen with the seed, sized by the evaluation plan, and never
holds what the training split holds; bad settings are refused in one line."""

from __future__ import annotations

import pytest

from custom_llm.errors import ConfigError
from custom_llm.evaluation.general_ability import corpus_texts, general_documents, general_section, retention_line, retention_verdict
from custom_llm.records import Document
from custom_llm.reports.release_report import console_lines


def test_a_tolerance_breach_is_flagged():
    assert retention_verdict(1.00, 1.03, 0.02)["failed"]
    assert retention_verdict(2.00, 2.041, 0.02)["failed"]


def test_within_tolerance_or_better_is_not_flagged():
    assert not retention_verdict(1.00, 1.019, 0.02)["failed"]
    assert not retention_verdict(1.00, 0.90, 0.02)["failed"]
    assert retention_verdict(1.00, 1.019, 0.0)["failed"]  # a zero tolerance: any loss fails


class Config:
    general_corpus = None
    retention_tolerance = 0.02


def rows(base: float, tuned: float) -> list[dict]:
    return [
        {"evaluator": "general_ability", "metric": "bits_per_byte", "base": base, "tuned": tuned, "n": 40, "p_value": 0.01, "verdict": "worse"},
        {"evaluator": "general_ability", "metric": "examples", "base": 40.0, "tuned": 40.0},
    ]


def test_a_retention_failure_reaches_the_console_summary():
    failed = general_section(Config(), rows(1.0, 1.05))
    assert failed is not None and failed["failed"] and failed["passages"] == 40
    lines = console_lines({"general_ability": failed})
    assert len(lines) == 1 and "RETENTION FAILURE" in lines[0] and "+5.0%" in lines[0] and "[bold red]" in lines[0]
    kept = general_section(Config(), rows(1.0, 1.01))
    assert kept is not None and not kept["failed"] and "retained" in retention_line(kept)
    assert console_lines({"general_ability": kept}) == [retention_line(kept)]
    assert "p = 0.010" in retention_line(kept)
    tiny_p = general_section(Config(), [{**rows(1.0, 1.05)[0], "p_value": 1e-5}, rows(1.0, 1.05)[1]])
    assert tiny_p is not None and "worse, p < 0.001" in retention_line(tiny_p)


def test_the_default_corpus_is_seeded_sized_by_the_plan_and_offline():
    first, _ = general_documents(None, 0.25, seed=7, training=[])
    again, _ = general_documents(None, 0.25, seed=7, training=[])
    other, _ = general_documents(None, 0.25, seed=8, training=[])
    smaller, _ = general_documents(None, 0.05, seed=7, training=[])
    assert [d.id for d in first] == [d.id for d in again] and [d.id for d in first] != [d.id for d in other]
    size = sum(len(d.text.encode()) for d in first)
    assert 0.2 * 128 * 1024 < size <= 0.25 * 128 * 1024 and sum(len(d.text.encode()) for d in smaller) < size / 3
    assert all(d.source.startswith("pydoc_data.topics:") for d in first)


def test_the_general_corpus_never_holds_what_training_holds():
    every, _ = general_documents(None, 1.0, seed=0, training=[])
    trained = every[:5]  # a training split that happens to contain some of the corpus
    kept, left_out = general_documents(None, 1.0, seed=0, training=[Document(text="\n".join(d.text for d in trained), source="t")])
    assert left_out >= 5 and not {d.text for d in trained} & {d.text for d in kept}


def test_an_organizations_own_corpus_and_bad_ones(tmp_path):
    folder = tmp_path / "reference"
    folder.mkdir()
    (folder / "a.txt").write_text("The first reference text.\n" * 20, encoding="utf-8")
    (folder / "b.bin").write_bytes(b"\xff\xfe\x00binary")
    assert [source for source, _ in corpus_texts(str(folder))] == ["a.txt"]
    documents, _ = general_documents(str(folder), 1.0, seed=0, training=[])
    assert documents and all(d.source == "a.txt" for d in documents)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="holds no UTF-8 text"):
        corpus_texts(str(empty))


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"retention_tolerance": -0.1}, "retention_tolerance must be"),
        ({"retrieval_top_k": -1}, "retrieval_top_k must be"),
        ({"general_corpus": "/no/such/corpus"}, "general_corpus: no file or folder"),
    ],
)
def test_bad_settings_are_refused_in_one_line(setting, message):
    from custom_llm.config import build_config

    with pytest.raises(ConfigError, match=message) as error:
        build_config(setting, {})
    assert "\n" not in str(error.value)
