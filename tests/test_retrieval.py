"""The retrieval baseline's parts: BM25 finds the passage a query was built from, the retrieval
context puts the training document that holds the answer in the prompt (within the model's
context), and the span path scores the same tokens as the plain teacher-forced pass."""

from __future__ import annotations

import random

import numpy as np
import pytest

from custom_llm.evaluation.context import EvalContext
from custom_llm.evaluation.retrieval import RetrievalContext, Retriever, chunk_documents, passage_block, predict_with_passages
from custom_llm.records import Document
from custom_llm.testing import make_tiny_model

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango".split()


def filler(rng: random.Random, lines: int) -> str:
    return "".join(" ".join(rng.choice(WORDS) for _ in range(8)) + "\n" for _ in range(lines))


def corpus() -> list[Document]:
    rng = random.Random(3)
    documents = [Document(text=filler(rng, 30), source=f"notes/{i}.txt") for i in range(12)]
    fact = "The torque limit of the gearbox_housing bolt is 47 newton metres.\n"
    documents.append(Document(text=filler(rng, 5) + fact + filler(rng, 5), source="manual/gearbox.txt"))
    return documents


def test_passages_are_whole_lines_within_the_size():
    passages = chunk_documents(corpus(), chars=200)
    assert all(len(p.text) <= 200 for p in passages)
    assert "".join(p.text for p in passages if p.source == "notes/0.txt") == corpus()[0].text  # nothing lost, nothing doubled


def test_the_passage_a_query_was_built_from_comes_first():
    passages = chunk_documents(corpus(), chars=200)
    retriever = Retriever(passages)
    rng = random.Random(0)
    for target in rng.sample(passages, 10):
        words = target.text.split()
        query = " ".join(rng.sample(words, min(6, len(words))))
        found = retriever.search(query, 3)
        assert found and set(found[0].text.split()) >= set(query.split())  # the best passage holds every query word
    assert retriever.search("gearbox housing torque", 1)[0].source == "manual/gearbox.txt"  # identifiers split: gearbox_housing
    assert retriever.search("zzz unknown words", 3) == []  # nothing shares a term: nothing is put in front of the case


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = make_tiny_model(tmp_path_factory.mktemp("tiny"), [d.text for d in corpus()])
    return AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


def context(tiny, documents: list[Document]) -> EvalContext:
    model, tokenizer = tiny
    return EvalContext(model=model, tokenizer=tokenizer, documents=documents, settings={}, domain_options={}, training_split=corpus())


def test_the_document_holding_the_answer_is_put_in_the_prompt(tiny, monkeypatch):
    plain = context(tiny, [])
    retrieving = RetrievalContext.around(plain, Retriever(chunk_documents(plain.training_documents())), top_k=2)
    asked: list[tuple[str, str]] = []
    original = EvalContext.score_answers
    monkeypatch.setattr(EvalContext, "score_answers", lambda self, cases, stop="\n": asked.extend(cases) or original(self, cases, stop))
    scores = retrieving.score_answers([("What is the torque limit of the gearbox housing bolt?", " 47 newton metres")])
    assert len(scores) == 1 and retrieving.calls == 1
    prompt = asked[0][0]
    assert "The torque limit of the gearbox_housing bolt is 47 newton metres." in prompt
    assert prompt.endswith("What is the torque limit of the gearbox housing bolt?")
    assert retrieving.max_examples == 0  # shown examples are not generated again


def test_passages_never_push_the_case_out_of_the_models_context(tiny):
    model, tokenizer = tiny
    plain = context(tiny, [])
    retrieving = RetrievalContext.around(plain, Retriever(chunk_documents(plain.training_documents())), top_k=3)
    limit = model.config.max_position_embeddings
    long_prompt = "gearbox torque " * (limit // 2)  # the case alone nearly fills the context
    assert retrieving.with_passages(long_prompt, " 47") == long_prompt
    block = passage_block(tokenizer, Retriever(chunk_documents(corpus())).search("gearbox torque", 3), 30)
    assert 0 < len(tokenizer(block, add_special_tokens=False)["input_ids"]) <= 30 + 3 * 2  # the budget, and the separators


def test_without_passages_the_span_path_scores_as_the_plain_pass(tiny, monkeypatch):
    from custom_llm.evaluation import retrieval
    from custom_llm.evaluation.teacher_forcing import predict_tokens

    model, tokenizer = tiny
    monkeypatch.setattr(retrieval, "SEGMENT_TOKENS", 64)  # several segments, each seeing all of the text before it
    text = corpus()[-1].text + corpus()[0].text[:400]
    plain = predict_tokens(model, tokenizer, text)
    segmented = predict_with_passages(model, tokenizer, text, lambda query, budget: "")
    assert 128 < len(plain.ids) <= 128 + 64  # three segments; the tiny model's 512-token window holds 128 tokens of local context
    np.testing.assert_array_equal(segmented.ids, plain.ids)
    np.testing.assert_array_equal(segmented.predicted, plain.predicted)
    np.testing.assert_allclose(segmented.logprob, plain.logprob, atol=1e-4)
    queries: list[str] = []
    with_passages = predict_with_passages(model, tokenizer, text, lambda query, budget: queries.append(query) or corpus()[0].text[:200])
    assert not np.allclose(with_passages.logprob[:-1], plain.logprob[:-1], atol=1e-4)  # the passages are read
    assert queries[0] == "" and all(text.startswith(q) or q in text for q in queries)  # each query: the text before its segment


class _Run:
    def __init__(self, top_k: int, evaluators: tuple[str, ...]) -> None:
        self.config = type("Config", (), {"retrieval_top_k": top_k})()
        self.domain = type("Domain", (), {"evaluators": evaluators})()


def test_retrieval_is_left_out_when_off_or_without_evaluators_of_the_domain():
    from custom_llm.evaluation.retrieval_baseline import wanted

    assert wanted(_Run(3, ("code-exact",)))
    assert not wanted(_Run(0, ("code-exact",)))  # retrieval_top_k: 0
    assert not wanted(_Run(3, ()))  # the text domain: perplexity and general ability only, no cases of its own


def test_the_summary_names_the_best_of_four_and_whether_tuning_beat_retrieval():
    from custom_llm.evaluation.retrieval_baseline import best_of, summary_line

    def row(metric, values, verdict, p, lower=False):
        return {
            "metric": metric,
            "n": 400,
            "values": values,
            "lower_is_better": lower,
            "best": best_of(values, lower),
            "tuned_vs_retrieval": {"verdict": verdict, "p_value": p},
        }

    values = {"base": 0.10, "base+retrieval": 0.20, "tuned": 0.30, "tuned+retrieval": 0.35}
    bits = {"base": 1.2, "base+retrieval": 1.0, "tuned": 1.1, "tuned+retrieval": 0.9}
    rows = [row("line_bits_per_byte", bits, "worse", 0.001, lower=True), row("line_exact_match", values, "better", 0.0004)]
    line = summary_line({"top_k": 3, "rows": rows})
    assert "best on line_exact_match (400 cases): tuned+retrieval (0.3500)" in line  # the exact-match figure leads
    assert "tuning beat retrieval significantly there" in line and "p < 0.001)" in line
    assert "1 better, 1 worse, 0 no significant difference" in line
    assert best_of(bits, lower_is_better=True) == "tuned+retrieval"
    assert best_of(dict.fromkeys(values, 0.0), lower_is_better=False) == "all four equal"
    assert best_of({"base": 0.5, "base+retrieval": 0.5, "tuned": 0.1, "tuned+retrieval": 0.1}, False) == "base = base+retrieval"
