"""The closed-book knowledge figure: questions about the training documents, in forms training never
uses, taught by index entries; scored teacher-forced on every case."""

from __future__ import annotations

from custom_llm.testing import ScriptedContext, domain_examples, metric_values
from custom_llm_public_sector import knowledge
from custom_llm_public_sector.examples import KNOWLEDGE

NAME = "public_sector"


def _context(training, reply, documents=()):
    return ScriptedContext(
        model=None,
        tokenizer=None,
        documents=list(documents),
        settings={},
        domain_options={},
        max_examples=8,
        seed=0,
        reply=reply,
        training_split=list(training),
    )


def _fixed_parts(template: str) -> list[str]:
    """The words of a question template around its fields ("What is the subject of", ...)."""
    parts = []
    for chunk in template.replace("}", "{").split("{")[::2]:
        chunk = chunk.split(": ", 1)[-1].strip(" “”«»„?¿\n:")
        if len(chunk) > 12:
            parts.append(chunk)
    return parts


def test_knowledge_questions_never_occur_in_training(plugins, legal):
    """No training example (prompt or text) contains a knowledge question's wording."""
    phrases = [p for forms in KNOWLEDGE.values() for template in forms.values() for p in _fixed_parts(template)]
    assert "What is the subject of" in phrases and "Which provision defines" in phrases
    texts = [(e.prompt or "") + e.completion for d in legal.documents for e in domain_examples(NAME, d, plugins)]
    assert len(texts) > 2000
    for phrase in phrases:
        assert not any(phrase in text for text in texts), phrase


def test_index_entries_state_the_facts_in_another_form(plugins, legal):
    def index(document, **options):
        return [e.completion for e in domain_examples(NAME, document, plugins, **options) if e.metadata["task"] == "index"]

    assert index(legal.cited("3 CFR 101.1")) == ["3 CFR 101.1 — Executive Office of the President.\n"] * 3
    assert "“Agency” is defined in 1 CFR 1.1.\n" in index(legal.cited("1 CFR 1.1"), index_repeats=1)
    assert index(legal.cited("3 CFR 101.1"), index_examples=False) == []


def test_knowledge_items_name_one_unit_each(legal):
    items = knowledge.knowledge_items(legal.documents)
    forms = {form for form, _, _ in items}
    assert forms == {"subject", "defines", "begins"} and len(items) >= 200
    prompts = [prompt for _, prompt, _ in items]
    assert len(prompts) == len(set(prompts)), "every question has one answer"
    assert ("defines", "Question: Which provision defines “Agency”?\nAnswer: ", "1 CFR 1.1") in items
    assert ("subject", "Question: What is the subject of 3 CFR 101.1?\nAnswer: ", "Executive Office of the President") in items


def test_knowledge_is_asked_about_the_training_documents(legal):
    training = legal.documents
    answers = {prompt: answer for _, prompt, answer in knowledge.knowledge_items(training)}
    knows = metric_values(knowledge.evaluate_knowledge(_context(training, lambda p: answers[p], documents=training[:20])))
    assert knows["knowledge_exact_match"] == 1.0 and knows["knowledge_bits_per_byte"] == 0.0
    assert knows["cases"] == len(answers) >= 200
    assert knows["subject_cases"] + knows["defines_cases"] + knows["begins_cases"] == knows["cases"]
    assert knows["subject_exact_match"] == knows["defines_exact_match"] == knows["begins_exact_match"] == 1.0
    # right document, wrong unit: not knowledge of the unit
    guesses = metric_values(knowledge.evaluate_knowledge(_context(training, lambda p: "3 CFR 101.1", documents=training[:20])))
    assert 0.0 < guesses["knowledge_exact_match"] < 0.01 and guesses["knowledge_bits_per_byte"] > 0
    # as many cases per held-out document evaluated: the cost follows core's evaluation plan
    one = metric_values(knowledge.evaluate_knowledge(_context(training, lambda p: answers[p], documents=training[:1])))
    assert one["cases"] == 64 and one["knowledge_exact_match"] == 1.0
    # held-out documents alone are not asked about
    assert knowledge.evaluate_knowledge(_context([], lambda p: "", documents=training)) == {"examples": 0}
