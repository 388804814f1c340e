"""The domain through the plugin contract: registration, ingestion, examples and evaluators."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from automotive_helpers import examples, ingest

from custom_llm.testing import ScriptedContext, metric_values
from custom_llm_automotive import criteria, filters
from custom_llm_automotive.evaluators import _NUMBER, first_number, parse_verdict
from custom_llm_automotive.isomme import read_channel, read_test
from custom_llm_automotive.limits import limit_for
from custom_llm_automotive.summaries import qa_items


def test_domain_and_evaluators_are_registered(plugins):
    from custom_llm.plugins import contract_problem
    from custom_llm_automotive import plugin

    domain = plugins.domains.get("automotive")
    assert plugins.domains.owner("automotive") == "automotive"
    assert domain.options["cfc_standard"] == "SAE J211"
    for name in domain.evaluators:
        assert name in plugins.evaluators
    tuning = {"batch_size": 4, "learning_rate": 1e-3, "time_budget": "13m"}
    preference = {"time_budget": "13m"}  # the preference and reward recipes keep their own rates
    staged = {name: preference for name in ("dpo", "orpo", "grpo", "dpo-full", "orpo-full")}
    assert domain.recipe_defaults == {"lora": tuning, "qlora": tuning, "full": tuning, **staged}  # scratch: core's defaults
    assert domain.special_tokens is None
    assert contract_problem(plugin, "automotive") == ""  # no hook of contract 0.1


def test_importing_the_plugin_imports_no_numeric_library():
    code = "import sys, custom_llm_automotive.plugin; print(sorted(m for m in ('numpy', 'scipy', 'pypdf') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_one_test_document_per_test_grouped_with_its_report(ingested, corpus):
    documents, report, (_, written) = ingested.documents, ingested.report, corpus
    tests = [d for d in documents if d.metadata["doc_type"] == "test"]
    assert [d.group for d in tests] == [t.test_id for t in written]
    assert not report.issues
    sections = [d for d in documents if d.metadata["doc_type"] == "report_section"]
    assert {d.group for d in sections} == {t.test_id for t in written}
    assert {d.metadata["format"] for d in sections} == {"txt", "pdf"}
    for document in tests:
        assert document.text.startswith(f"Test {document.group} is a ")
        assert document.metadata["results"]["occupants"]


def test_unsupported_files_are_reported_at_discovery(plugins, tmp_path):
    (tmp_path / "notes.docx").write_bytes(b"PK")
    (tmp_path / "r.txt").write_text("REPORT\nTest number: X\n")
    result = ingest(plugins, tmp_path)
    assert [f.name for f in result.files] == ["r.txt"]
    assert "unsupported file type '.docx'" in result.reasons()["notes.docx"]


def _independent_deflections(test):
    """Peak CFC 180 deflection per chest / rib channel, straight from the files."""
    return {
        c.code.raw: criteria.peak_magnitude(filters.cfc_filter(c.values, c.dt, 180))[0]
        for c in read_test(test.mme).channels
        if c.code.dimension == "DS" and c.code.main_location in ("CHST", "RIBS")
    }


def test_examples_answers_match_the_computed_criteria(plugins, ingested, corpus):
    _, written = corpus
    for document, test in zip([d for d in ingested.documents if d.metadata["doc_type"] == "test"], written, strict=True):
        results = document.metadata["results"]
        made = examples(plugins, document, questions_per_test=0, counterfactual_verdicts=0)
        assert made[0].kind == "causal" and made[0].completion == document.text
        pairs = [e for e in made if e.kind == "instruction"]
        items = qa_items(results)
        assert len(pairs) == len(items) > 5
        for example, item in zip(pairs, items, strict=True):
            assert example.prompt.endswith(f"Question: {item['question']}\nAnswer:")
            answer = example.completion
            if item["type"] == "numeric":
                assert first_number(answer) == pytest.approx(item["value"], rel=0.002, abs=0.5)
            elif item["type"] == "verdict" and item["criterion"] != "overall":
                occupant = next(o for o in results["occupants"] if o["role"] == item["role"])
                entry = occupant["criteria"][item["criterion"]]
                limit = limit_for(occupant["dummy"], item["criterion"])
                assert parse_verdict(answer) == (entry["value"] > limit.value)
        # the channel question, recomputed independently from the channel files
        deflection = _independent_deflections(test)
        channel_items = [i for i in items if i["type"] == "channel"]
        if len(deflection) > 1:
            assert channel_items[0]["value"] == max(deflection, key=deflection.get)
            assert example_for(pairs, channel_items[0]).completion.strip().startswith(channel_items[0]["value"])


def example_for(pairs, item):
    return next(e for e in pairs if e.prompt.endswith(f"Question: {item['question']}\nAnswer:"))


def test_questions_per_test_is_sampled_reproducibly(plugins, options, ingested):
    document = next(d for d in ingested.documents if d.metadata["doc_type"] == "test")
    first = examples(plugins, document, seed=3)
    again = examples(plugins, document, seed=3)
    assert [e.prompt for e in first] == [e.prompt for e in again]
    assert len([e for e in first if e.kind == "instruction"]) == options["questions_per_test"] + options["counterfactual_verdicts"]


def _verdicts(made):
    return [e for e in made if e.kind == "instruction" and e.metadata["type"] == "verdict" and e.metadata["criterion"] != "overall"]


def test_training_verdicts_are_balanced_by_counterfactual_values(plugins, ingested):
    """Real criteria are mostly within their limits; the counterfactual copies make the training
    verdicts balanced, and every answer (real or counterfactual) agrees with its sheet and limit."""
    tests = [d for d in ingested.documents if d.metadata["doc_type"] == "test"]
    real = [e for d in tests for e in _verdicts(examples(plugins, d, counterfactual_verdicts=0))]
    mixed = [e for d in tests for e in _verdicts(examples(plugins, d))]
    share = [e.metadata["exceeds"] for e in real].count(True) / len(real)
    exceeded = [e.metadata["exceeds"] for e in mixed].count(True)
    assert share < 0.4, "the generated sample is mostly within limits (else this test shows nothing)"
    assert 0.4 <= exceeded / len(mixed) <= 0.6, (exceeded, len(mixed))
    assert sum(e.metadata["counterfactual"] for e in mixed) == 6 * len(tests)
    for example in mixed:
        # "HIC15 812, limit 700: exceeds. Yes." and the sheet's line says "HIC15 812"
        stated, decision = example.completion.strip().rsplit(": ", 1)
        label_value, limit = stated.split(", limit ")
        assert decision == ("exceeds. Yes." if example.metadata["exceeds"] else "within. No.")
        assert label_value in example.prompt
        value = label_value.split()[-2] if label_value.endswith((" mm", " g", " N")) else label_value.split()[-1]
        assert (first_number(value) > first_number(limit)) == example.metadata["exceeds"]


def test_report_sections_give_text_and_field_questions(plugins, ingested):
    section = next(d for d in ingested.documents if d.metadata["doc_type"] == "report_section" and "Impact speed" in d.metadata["fields"])
    made = examples(plugins, section, fields_per_section=0)
    assert made[0].kind == "causal"
    speed = next(e for e in made if e.kind == "instruction" and "impact speed" in e.prompt.splitlines()[-2])
    assert speed.completion.strip() == section.metadata["fields"]["Impact speed"]
    assert speed.completion.strip() in section.text


def _scripted(documents, options, answer):
    """An evaluation context whose model answers from a script (prompt -> answer)."""
    return ScriptedContext(model=None, tokenizer=None, documents=documents, settings={}, domain_options=options, max_examples=40, reply=answer)


def _oracle(plugins, documents):
    answers = {}
    for document in documents:
        for example in examples(plugins, document, questions_per_test=0, fields_per_section=0):
            if example.kind == "instruction":
                answers[example.prompt] = example.completion.rstrip("\n")
    return lambda prompt: answers[prompt]


def _shown(ctx, kind):
    """Whether each generated answer the evaluator showed (key ``kind N``) was judged right."""
    return [case["correct"] for key, case in ctx.shown().items() if key.startswith(kind + " ")]


GENERATED_FIGURES = ("within_tolerance", "answered", "accuracy", "balanced_accuracy", "exceeded_examples", "exact_match", "majority_rate")


def test_evaluators_score_a_perfect_and_a_useless_model(plugins, options, ingested):
    documents = ingested.documents
    options = {**options, "eval_counterfactual_verdicts": False}  # the script knows the real questions only
    perfect = _scripted(documents, options, _oracle(plugins, documents))
    useless = _scripted(documents, options, lambda prompt: " the the the")

    def numeric(ctx):
        return metric_values(plugins.evaluators.get("automotive_numeric_qa").evaluate(ctx))

    def verdicts(ctx):
        return metric_values(plugins.evaluators.get("automotive_verdicts").evaluate(ctx))

    def fields(ctx):
        return metric_values(plugins.evaluators.get("automotive_report_fields").evaluate(ctx))

    assert numeric(perfect)["examples"] == 40 and _shown(perfect, "numeric") == [True] * 40
    assert numeric(perfect)["cases"] > 40, "every held-out question is scored teacher-forced, not only the sample"
    assert numeric(perfect)["answer_exact_match"] == numeric(perfect)["value_exact_match"] == 1.0
    right = verdicts(perfect)
    assert right["verdict_accuracy"] == right["answer_exact_match"] == 1.0 and all(_shown(perfect, "verdict"))
    assert fields(perfect)["answer_exact_match"] == 1.0 and all(_shown(perfect, "field"))
    for figures in (numeric(useless), verdicts(useless), fields(useless), right):
        assert not set(GENERATED_FIGURES) & set(figures), "no figure from the 40 generated answers, only shown cases"
    assert numeric(useless)["answer_exact_match"] == numeric(useless)["value_exact_match"] == 0.0
    assert verdicts(useless)["verdict_accuracy"] == 0.0 and fields(useless)["answer_exact_match"] == 0.0
    assert not any(_shown(useless, "numeric") + _shown(useless, "verdict") + _shown(useless, "field"))
    assert right["verdict_choice_accuracy"] == 1.0 and right["verdict_minority_answers"] == right["verdict_minority_cases"] > 0
    no = _scripted(documents, options, lambda prompt: " No.")
    always_no = verdicts(no)
    shown_no = _shown(no, "verdict")
    assert always_no["answer_exact_match"] == 0.0 and True in shown_no and False in shown_no, "shown verdicts alternate"

    # value and limit right, always "within": the majority's score, and it never gives the rarer answer
    def always_within(prompt):
        return _oracle(plugins, documents)(prompt).replace("exceeds. Yes.", "within. No.").replace("Exceeded: ", "All within. No. ")

    within = verdicts(_scripted(documents, options, always_within))
    assert within["verdict_accuracy"] == within["verdict_choice_accuracy"] == pytest.approx(within["verdict_majority_rate"])
    assert within["verdict_balanced_accuracy"] == within["verdict_choice_balanced_accuracy"] == pytest.approx(0.5)
    assert within["verdict_minority_answers"] == 0 and within["verdict_minority_cases"] > 0

    # the verdict is found after the value and the limit: a garbled ending still has its decision right
    def garbled_ending(prompt):
        return _oracle(plugins, documents)(prompt).replace(". Yes.", ". Maybe").replace(". No.", ". Maybe")

    garbled_context = _scripted(documents, options, garbled_ending)
    garbled = verdicts(garbled_context)
    assert garbled["verdict_accuracy"] == 1.0 and all(_shown(garbled_context, "verdict")) and garbled["answer_exact_match"] < 1.0

    # a number right but run on ("5234" for "523") is not the value
    def run_on(prompt):
        answer = _oracle(plugins, documents)(prompt)
        return _NUMBER.sub(lambda m: m.group(0) + "7", answer, count=1)

    assert numeric(_scripted(documents, options, run_on))["value_exact_match"] == 0.0


def test_counterfactual_held_out_verdicts_are_balanced_and_scored(plugins, options, ingested):
    """Held-out sheets with each limited criterion moved above or below its limit: half exceeded,
    answers that agree with the limit, and the figures of a model that knows them, or only "within"."""
    from custom_llm_automotive.evaluators import _shifted_items
    from custom_llm_automotive.summaries import prompt

    context = _scripted(ingested.documents, options, lambda p: "")
    items = _shifted_items(context)
    truths = [item["exceeds"] for _, item in items]
    assert len(items) > 40 and abs(truths.count(True) - truths.count(False)) <= 1
    for sheet, item in items:
        assert item["answer"].split(": ")[0].split(", limit ")[0] in sheet  # the moved value is on the sheet
    answers = {prompt(sheet, item["question"]): " " + item["answer"] for sheet, item in items}
    real = _oracle(plugins, ingested.documents)

    def knows(p):
        return answers.get(p) or real(p)

    perfect = metric_values(plugins.evaluators.get("automotive_verdicts").evaluate(_scripted(ingested.documents, options, knows)))
    assert perfect["counterfactual_cases"] == min(len(items), perfect["cases"])
    assert perfect["counterfactual_verdict_accuracy"] == perfect["counterfactual_verdict_balanced_accuracy"] == 1.0

    def within(p):
        return knows(p).replace("exceeds. Yes.", "within. No.").replace("Exceeded: ", "All within. No. ")

    constant = metric_values(plugins.evaluators.get("automotive_verdicts").evaluate(_scripted(ingested.documents, options, within)))
    assert constant["counterfactual_verdict_balanced_accuracy"] == pytest.approx(0.5)
    scored = truths[: constant["counterfactual_cases"]]
    assert constant["counterfactual_verdict_accuracy"] == pytest.approx(scored.count(False) / len(scored))


def test_evaluators_without_documents(plugins, options):
    empty = _scripted([], options, lambda prompt: "")
    for name in ("automotive_numeric_qa", "automotive_verdicts", "automotive_report_fields"):
        assert plugins.evaluators.get(name).evaluate(empty) == {"examples": 0.0}


def test_answer_parsing():
    assert first_number(" 1,234.5 N (driver)") == 1234.5
    assert first_number("HIC is -3.5e2") == -350.0
    assert first_number("none") is None
    assert parse_verdict(" No. It is within") is False and parse_verdict("It exceeds the limit") is True
    assert parse_verdict(" HIC15 812, limit 700: exceeds. Yes.") is True and parse_verdict(" Nij 0.42, limit 1.00: within. No.") is False
    assert parse_verdict(" All within. No.") is False and parse_verdict(" Exceeded: driver HIC15 (812, limit 700). Yes.") is True
    assert parse_verdict("unclear") is None


def test_real_data_through_the_contract(plugins, real_data):
    result = ingest(plugins, real_data)
    documents, report = result.documents, result.report
    assert [d.metadata["doc_type"] for d in documents] == ["test"]
    document = documents[0]
    assert document.group == "test" and "24NECKUP00P2MOZP" in document.text
    absent = [i for i in report.issues if "channel file absent" in i.reason]
    assert len(absent) == 78  # the index names 79 channels; only channel 001 was published
    assert [i.path for i in report.issues if i not in absent] == ["SOURCES.md"]  # not a report format


def test_nhtsa_ev5_gives_the_same_criteria_as_iso_mme(plugins, corpus, tmp_path):
    from custom_llm_automotive.nhtsa import write_ev5

    _, written = corpus
    test = next(t for t in written if t.kind == "frontal" and not t.explicit_time)
    curves = []
    axes = {"X": "XL", "Y": "YL", "Z": "ZL"}
    for channel in test.channels:
        read = read_channel(channel.path)
        if read.code.position != "1" or read.code.main_location not in ("HEAD", "FEMR"):
            continue
        attachment = "HDCG" if read.code.main_location == "HEAD" else ("FMRL" if read.code.fine_location_1 == "LE" else "FMRR")
        unit = {"g": "G'S", "N": "NWT"}[read.unit]
        record = {"VEHNO": "1", "SENLOC": "01", "SENATT": attachment, "AXIS": axes[read.code.direction], "YUNITS": unit, "XUNITS": "MSEC"}
        curves.append((record, read.time * 1000.0, read.values))
    path = write_ev5(
        tmp_path / "nhtsa",
        "9999",
        {"TITLE": "Research frontal", "TSTTYP": "Full frontal barrier"},
        [{"TSTNO": "9999", "VEHNO": "1", "MAKED": "AVELA", "MODELD": "C", "YEAR": "2020", "VEHSPD": "56.0", "VEHTWT": "1500"}],
        [{"TSTNO": "9999", "VEHNO": "1", "OCCLOC": "01", "OCCTYP": "H3", "DUMSIZ": "50"}],
        curves,
    )
    (path.parent / "9999.099").write_text("1 2\n")  # a curve nobody names
    result = ingest(plugins, path.parent)
    assert len(result.documents) == 1
    nhtsa = result.documents[0].metadata["results"]
    assert nhtsa["source_format"] == "NHTSA EV5" and nhtsa["speed_kmh"] == 56.0
    iso = next(d for d in ingested_results(plugins, test) if d["test_id"] == test.test_id)
    driver_iso = next(o for o in iso["occupants"] if o["role"] == "driver")["criteria"]
    driver_nhtsa = nhtsa["occupants"][0]["criteria"]
    assert nhtsa["occupants"][0]["dummy"] == "H3"
    for name in ("hic15", "hic36", "femur_left", "femur_right"):
        assert driver_nhtsa[name]["value"] == pytest.approx(driver_iso[name]["value"], rel=1e-3)
    assert [(i.path, i.reason) for i in result.report.issues] == [("9999.099", "curve file not in the header: INSTRUMENTATION names no curve 099")]


def ingested_results(plugins, test):
    documents = ingest(plugins, test.folder).documents
    return [d.metadata["results"] for d in documents if d.metadata["doc_type"] == "test"]


def test_iso_6487_option_changes_the_filter_only_slightly(plugins, corpus):
    _, written = corpus
    folder = written[0].folder
    sae = ingest(plugins, folder).documents[0].metadata["results"]
    iso = ingest(plugins, folder, cfc_standard="ISO 6487").documents[0].metadata["results"]
    assert iso["filter_standard"] == "ISO 6487"
    a = sae["occupants"][0]["criteria"]["hic15"]["value"]
    b = iso["occupants"][0]["criteria"]["hic15"]["value"]
    assert a == pytest.approx(b, rel=0.02)
    assert np.isfinite(a)
