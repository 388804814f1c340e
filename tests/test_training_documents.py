"""EvalContext.training_documents(): the training split, read lazily, and wired into every run's evaluation."""

from __future__ import annotations

import pytest

from custom_llm import hookimpl
from custom_llm.data.storage import write_documents
from custom_llm.default_plugins import text_domain
from custom_llm.evaluation.context import EvalContext
from custom_llm.records import Document, Domain, Evaluator
from custom_llm.testing import registered_plugin, run_domain


def _context(training_split):
    return EvalContext(model=None, tokenizer=None, documents=[], settings={}, domain_options={}, training_split=training_split)


def test_training_documents_read_back_from_the_stored_split(tmp_path):
    stored = [Document(text="def train_only():\n    pass\n", source="a.py"), Document(text="X = 1\n", source="b.py")]
    path = tmp_path / "train.arrow"
    write_documents(path, stored)
    ctx = _context(path)
    assert "training-documents" not in ctx._memo  # nothing read before an evaluator asks
    assert [(d.source, d.text, d.id) for d in ctx.training_documents()] == [(d.source, d.text, d.id) for d in stored]
    ctx.training_documents().clear()  # a caller's change to the list does not change what the next one gets
    assert len(ctx.training_documents()) == 2


def test_training_documents_given_directly_or_absent():
    assert _context(None).training_documents() == []
    document = Document(text="class Trained: ...\n", source="t.py")
    assert _context([document]).training_documents() == [document]


class Probe:
    """A domain that is the text domain plus an evaluator recording what training_documents() gives."""

    seen: list[list[str]] = []

    @hookimpl
    def register_domains(self, register):
        td = text_domain
        evaluators = ("probe_training_documents",)
        register(Domain("probe-text", "text, probed", td.discover, td.ingest, td.make_examples, options=td.OPTIONS, evaluators=evaluators))

    @hookimpl
    def register_evaluators(self, register):
        def evaluate(ctx):
            sources = sorted(d.source for d in ctx.training_documents())
            Probe.seen.append(sources)
            held_out = {d.source for d in ctx.documents}
            return {"training_documents": float(len(sources)), "overlap": float(len(held_out & set(sources)))}

        register(Evaluator("probe_training_documents", "what the model was trained on", evaluate))


@pytest.mark.slow
def test_a_run_gives_evaluators_the_training_split(tmp_path, text_corpus):
    Probe.seen = []
    with registered_plugin(Probe(), "probe"):
        report = run_domain("probe-text", [text_corpus], tmp_path / "run")
    metrics = report["tuned"]["probe_training_documents"]
    assert metrics["overlap"] == 0  # held-out documents are never among the training documents
    assert Probe.seen and all(seen == Probe.seen[0] for seen in Probe.seen)  # base and tuned: the same split
    assert metrics["training_documents"] == len(Probe.seen[0]) > 0
