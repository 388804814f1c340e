"""Intervals, paired tests and verdicts, checked against hand-computed figures; a plugin's scoring
evaluator written with the public API only; a tuned model equal to its base gets no verdict of change."""

from __future__ import annotations

import json

import pytest

from custom_llm import Cases, Domain, Evaluator, Example, hookimpl
from custom_llm.evaluation.statistics import bootstrap_interval, compare, mcnemar_exact, paired_bootstrap, wilson_interval
from custom_llm.testing import registered_plugin


def test_wilson_interval_by_hand():
    # 8 of 10: centre (0.8 + 1.96^2/20) / (1 + 1.96^2/10), half-width 1.96 sqrt(0.016 + 1.96^2/400) / (1 + 1.96^2/10)
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(0, 20)[1] == pytest.approx(0.1611, abs=1e-4)


def test_mcnemar_exact_by_hand():
    base = [1] * 2 + [0] * 8 + [1] * 5 + [0] * 5  # 2 cases only the base got, 8 only the tuned model, 10 concordant
    tuned = [0] * 2 + [1] * 8 + [1] * 5 + [0] * 5
    b, c, p = mcnemar_exact(base, tuned)
    assert (b, c) == (2, 8)
    assert p == pytest.approx(2 * (1 + 10 + 45) / 1024)  # two-sided binomial tail at 2 of 10: 0.109
    assert mcnemar_exact([0] * 10, [1] * 10)[2] == pytest.approx(2 / 1024)
    assert mcnemar_exact([1, 0, 1], [1, 0, 1])[2] == 1.0


def test_verdicts():
    same = compare([1, 0, 1, 0] * 25, [1, 0, 1, 0] * 25, lower_is_better=False)
    assert same.verdict == "no significant difference" and same.p_value == 1.0 and same.test == "McNemar exact"
    better = compare([0] * 30 + [1] * 10, [1] * 40, lower_is_better=False)
    assert better.verdict == "better" and better.p_value < 0.001 and better.discordant == (0, 30)
    worse_bits = compare([1.0, 1.1, 0.9, 1.2] * 10, [1.2, 1.3, 1.1, 1.4] * 10, True, [1.0] * 40, [1.0] * 40)
    assert worse_bits.verdict == "worse" and worse_bits.test == "paired bootstrap"
    noisy = compare([0.5, 0.6, 0.4, 0.55], [0.6, 0.5, 0.45, 0.5], lower_is_better=False)
    assert noisy.verdict == "no significant difference"


def test_bootstrap_interval_holds_the_ratio_of_sums():
    values, weights = [2.0, 4.0, 6.0, 8.0] * 10, [1.0, 2.0, 3.0, 4.0] * 10
    low, high = bootstrap_interval(values, weights)
    assert low == pytest.approx(2.0) and high == pytest.approx(2.0)  # every document has the same ratio
    assert paired_bootstrap(values, values, weights, weights) == 1.0
    assert Cases(values, weights).value == pytest.approx(2.0) and Cases([True, False, True, True]).value == 0.75


class LineScorer:
    """A plugin author's evaluator: exact match of every line that starts with 'def ', via the public helper."""

    @hookimpl
    def register_domains(self, register):
        register(
            Domain(
                name="scored",
                description="text with a scoring evaluator",
                discover=self.discover,
                ingest=self.ingest,
                make_examples=lambda document: [Example(completion=document.text, doc_id=document.id)],
                evaluators=("def-lines",),
            )
        )

    @hookimpl
    def register_evaluators(self, register):
        def evaluate(ctx):
            hits = []
            for document in ctx.documents:
                spans, position = [], 0
                for line in document.text.split("\n"):
                    if line.lstrip().startswith("def "):
                        start = position + len(line) - len(line.lstrip())
                        spans.append((start, position + len(line)))
                    position += len(line) + 1
                hits += [score.exact for score in ctx.score_spans(document, spans, stop="\n")]
            return {"def_line_exact_match": Cases(hits), "examples": len(hits)}

        register(Evaluator(name="def-lines", description="every def line, teacher-forced", evaluate=evaluate))

    @staticmethod
    def discover(source):
        return sorted(source.glob("*.txt"))

    @staticmethod
    def ingest(files):
        from custom_llm import Document

        return [Document(text=f.read_text(), source=f.name) for f in files]


@pytest.mark.slow
def test_a_tuned_model_equal_to_its_base_gets_no_significant_difference(tmp_path, text_corpus):
    """Learning rate 0: the run refuses to pass as tuned (one line, non-zero exit), but the report it
    wrote compares the two identical models honestly."""
    from click.testing import CliRunner

    from custom_llm.cli import main
    from custom_llm.testing import TINY_RUN_OPTIONS

    output = tmp_path / "run"
    arguments = ["run", "--domain", "scored", "--output", str(output), "--source", str(text_corpus), *TINY_RUN_OPTIONS, "--learning-rate", "0"]
    with registered_plugin(LineScorer(), "scorer"):
        result = CliRunner().invoke(main, arguments)
    assert result.exit_code != 0 and "training did not change the model" in result.output
    report = json.loads((output / "report.json").read_text())
    rows = {(r["evaluator"], r["metric"]): r for r in report["comparison"]}
    lines = rows[("def-lines", "def_line_exact_match")]
    assert lines["n"] > 20 and lines["test"] == "McNemar exact"
    assert lines["base"] == lines["tuned"] and lines["verdict"] == "no significant difference" and lines["p_value"] == 1.0
    assert rows[("perplexity", "bits_per_byte")]["verdict"] == "no significant difference"
    assert rows[("perplexity", "examples")]["verdict"] is None  # counts are shown, never compared
    markdown = (tmp_path / "run" / "report.md").read_text()
    assert "| def-lines | def_line_exact_match |" in markdown and "no significant difference" in markdown
    cases = json.loads((tmp_path / "run" / "metrics" / "tuned_cases.json").read_text())
    assert len(cases["def-lines"]["def_line_exact_match"]["values"]) == lines["n"]
