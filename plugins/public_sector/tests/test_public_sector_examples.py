"""Examples follow the structure (citation, hierarchy, heading, definitions) and the evaluators ask
the same questions and score them as documented."""

from __future__ import annotations

import pytest

from custom_llm.testing import ScriptedContext, domain_examples, metric_values
from custom_llm_public_sector import citations, evaluators
from custom_llm_public_sector.examples import TEMPLATES

NAME = "public_sector"


def _examples(plugins, document, seed=0, **options):
    return domain_examples(NAME, document, plugins, seed=seed, **options)


def test_cited_text_and_instruction_pairs(plugins, legal):
    unit = legal.cited("3 CFR 101.1")
    examples = _examples(plugins, unit)
    causal = examples[0]
    assert causal.kind == "causal" and causal.prompt == ""
    assert causal.completion.startswith(
        "3 CFR 101.1 — Part 101 — PUBLIC INFORMATION PROVISIONS OF THE ADMINISTRATIVE PROCEDURES ACT > "
        "Section 101.1 — Executive Office of the President\n"
    )
    assert unit.text in causal.completion
    pairs = {e.metadata["task"]: e for e in examples if e.kind == "instruction"}
    assert set(pairs) == {"provides", "cite_text", "which", "heading"}
    assert pairs["provides"].prompt == "Question: What does 3 CFR 101.1 provide?\nAnswer: "
    assert pairs["provides"].completion == unit.text + "\n"
    assert pairs["which"].prompt == "Question: Which provision deals with Executive Office of the President?\nAnswer: "
    assert pairs["which"].completion == "3 CFR 101.1\n"
    assert pairs["cite_text"].completion == "3 CFR 101.1\n" and unit.text[:60] in pairs["cite_text"].prompt
    assert pairs["heading"].completion == "Executive Office of the President\n"
    assert all(e.doc_id == unit.id for e in examples)


def test_definitions_become_pairs(plugins, legal):
    unit = legal.cited("1 CFR 1.1")
    defined = {e.prompt: e.completion for e in _examples(plugins, unit) if e.metadata["task"] == "define"}
    prompt = "Question: As defined in 1 CFR 1.1, what does “Agency” mean?\nAnswer: "
    assert defined[prompt].startswith("each authority, whether or not within or subject to review")
    limited = [e for e in _examples(plugins, unit, max_definitions_per_unit=2) if e.metadata["task"] == "define"]
    assert len(limited) == 2
    again = [e for e in _examples(plugins, unit, max_definitions_per_unit=2) if e.metadata["task"] == "define"]
    assert [e.prompt for e in limited] == [e.prompt for e in again]  # seeded, so reproducible


def test_shared_citations_and_headings_are_disambiguated(plugins, legal):
    shared = [d for d in legal.of("FR-2024-02-12.xml") if d.metadata["citation_shared"] > 1 and d.metadata["heading"] == "Background"][0]
    tasks = {e.metadata["task"]: e for e in _examples(plugins, shared) if e.kind == "instruction"}
    assert "provides" not in tasks and "which" not in tasks  # ambiguous questions are not asked
    assert tasks["provides_heading"].prompt.endswith("provide under the heading “Background”?\nAnswer: ")


def test_long_answers_are_cut(plugins, legal):
    long_unit = max(legal.of("FR-2024-02-12.xml"), key=lambda d: len(d.text))
    examples = _examples(plugins, long_unit, max_answer_chars=500)
    answers = [e for e in examples if e.metadata["task"] in {"provides", "provides_heading"}]
    assert answers and all(len(e.completion) <= 502 for e in answers)


def test_templates_follow_the_language(plugins, tmp_path, ingest):
    (tmp_path / "loi.txt").write_text(
        "Article 3 - Publication\nLes administrations publient en ligne les documents qu'elles communiquent "
        "dans les conditions prévues par la présente loi.\n",
        encoding="utf-8",
    )
    unit = ingest(tmp_path).documents[0]
    prompts = [e.prompt for e in _examples(plugins, unit) if e.kind == "instruction"]
    assert "Question : Que prévoit loi, art. 3 ?\nRéponse : " in prompts
    assert set(TEMPLATES) == {"en", "fr", "de", "es"}


def test_instruction_examples_can_be_turned_off(plugins, legal):
    examples = _examples(plugins, legal.cited("3 CFR 101.1"), instruction_examples=False)
    assert [e.kind for e in examples] == ["causal"]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("3 C.F.R. § 101.1", "3 CFR 101.1", True),
        ("Public Law 113–44, section 101", "Pub. L. 113-44, sec. 101", True),
        ("89 Fed. Reg. 9741, 9742", "89 FR 9741, 9742", True),
        ("  s. 1014 (116th cong.), SEC. 2\nmore text", "S. 1014 (116th Cong.), sec. 2", True),
        ("3 CFR 10.11", "3 CFR 101.1", False),
        ("3 CFR 101.1(a)", "3 CFR 101.1", False),
    ],
)
def test_citation_normalization(a, b, same):
    assert citations.same_citation(a, b) is same


def _values(evaluate, ctx):
    return metric_values(evaluate(ctx))


def _context(documents, answer, max_examples=64):
    return ScriptedContext(
        model=None, tokenizer=None, documents=documents, settings={}, domain_options={}, max_examples=max_examples, seed=0, reply=answer
    )


def _shown(ctx):
    """Whether each generated answer the evaluator showed was judged right (a reader's judgement)."""
    return [case["correct"] for case in ctx.shown().values()]


def test_citation_accuracy(legal):
    held_out = legal.of("title-3-part-101-2024-05-17.xml")
    expected = {}
    for prompt, citation, _ in evaluators.citation_items(held_out):
        expected[prompt] = citation
    oracle = _context(held_out, lambda p: f"3 C.F.R. § {expected[p][6:]}\nQuestion")
    perfect = _values(evaluators.evaluate_citations, oracle)
    # written another way: right for a reader (a shown generated answer), not the taught answer (teacher-forced)
    assert _shown(oracle) == [True] * 14 and perfect["examples"] == 14
    assert perfect["citation_exact_match"] == 0.0 and perfect["cases"] == 14
    assert not {"citation_accuracy", "citation_document_accuracy"} & set(perfect), "no figure from a few generated answers"
    taught_context = _context(held_out, lambda p: expected[p])
    taught = _values(evaluators.evaluate_citations, taught_context)
    assert taught["citation_exact_match"] == taught["citation_document_exact_match"] == 1.0 and all(_shown(taught_context))
    near_context = _context(held_out, lambda p: "3 CFR 999.9")
    near = _values(evaluators.evaluate_citations, near_context)
    assert near["citation_exact_match"] == 0.0 and near["citation_document_exact_match"] == 1.0 and not any(_shown(near_context))
    wrong = _values(evaluators.evaluate_citations, _context(held_out, lambda p: "the Constitution"))
    assert wrong["citation_exact_match"] == wrong["citation_document_exact_match"] == 0.0
    capped = _context(held_out, lambda p: "x", max_examples=5)
    capped_values = _values(evaluators.evaluate_citations, capped)
    assert capped_values["examples"] == 5 and len(capped.prompts) == 5 and capped_values["cases"] == 14


def test_definition_recall(legal):
    held_out = [legal.cited("1 CFR 1.1")]
    definitions = held_out[0].metadata["definitions"]

    def answer(prompt):
        term = prompt.split("“")[1].split("”")[0]
        return definitions[term]

    knows = _context(held_out, answer)
    assert _values(evaluators.evaluate_definitions, knows) == {
        "examples": len(definitions),
        "definition_exact_match": 1.0,
        "definition_bits_per_byte": 0.0,
        "cases": len(definitions),
    }
    assert _shown(knows) == [True] * len(definitions)
    blank = _context(held_out, lambda p: "Zzz.")
    none = _values(evaluators.evaluate_definitions, blank)
    assert none["definition_exact_match"] == 0.0 and none["definition_bits_per_byte"] > 0 and not any(_shown(blank))
    assert evaluators.recall("the Committee established under section 1506", "a committee under section 1506") == 0.75


def test_no_items_gives_zero_examples():
    assert _values(evaluators.evaluate_citations, _context([], lambda p: ""))["examples"] == 0
    assert _values(evaluators.evaluate_definitions, _context([], lambda p: ""))["examples"] == 0
