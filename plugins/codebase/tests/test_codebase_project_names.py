"""code-project-names: the names training files define, their held-out uses, and the evaluator on a
tiny model (every use scored teacher-forced, names defined only in held-out code never counted)."""

from __future__ import annotations

import pytest

from custom_llm import Cases, Document, EvalContext
from custom_llm.testing import make_tiny_model
from custom_llm_codebase.name_metrics import evaluate_project_names
from custom_llm_codebase.project_names import counted, defined_names, import_statements, module_paths, occurrences
from custom_llm_codebase.units import document_metadata

STORE = '''"""Widget storage."""

MAX_WIDGETS = 40


class WidgetStore:
    retry_count: int = 3
    cache_dir = "/tmp"

    def fetch_widget(self, widget_id):
        return self.items[widget_id]


def load_widget_config(path):
    return {"widget_timeout": 5, "name": path}
'''
SETTINGS = "widget_server:\n  listen_port: 8080\n  name: demo\n"
HELD_OUT = """from acme.widgets.store import WidgetStore, load_widget_config
import json


def helper_only_here(store: WidgetStore):
    config = load_widget_config("w.yaml")
    return store.fetch_widget(config["widget_timeout"]) + helper_only_here(store) + MAX_WIDGETS


def text_value(name):
    return json.dumps(name)
"""


def doc(source: str, text: str, language: str) -> Document:
    return Document(text=text, source=source, metadata=document_metadata(text, language))


TRAINING = [
    doc("src/acme/__init__.py", "", "python"),
    doc("src/acme/widgets/store.py", STORE, "python"),
    doc("config/settings.yaml", SETTINGS, "yaml"),
]
HELD = doc("src/acme/widgets/view.py", HELD_OUT, "python")


def test_training_files_define_functions_classes_methods_constants_fields_keys_and_modules():
    project = defined_names(TRAINING)
    assert project.names["WidgetStore"] == "class" and project.names["load_widget_config"] == "function"
    assert project.names["fetch_widget"] == "method" and project.names["MAX_WIDGETS"] == "constant"
    assert project.names["retry_count"] == project.names["cache_dir"] == "field"
    assert project.names["widget_timeout"] == project.names["listen_port"] == project.names["widget_server"] == "configuration key"
    assert "acme.widgets.store" in project.modules and "acme" in project.modules
    assert "store" not in project.modules  # a single name only for a package: `import types` is not claimed by a types.py
    assert "helper_only_here" not in project  # defined only in held-out code


def test_ordinary_words_and_the_languages_own_names_are_no_cases():
    assert counted("load_widget_config") and counted("WidgetStore") and counted("MAX_WIDGETS") and counted("maxCases")
    assert not any(counted(n) for n in ("name", "text", "Document", "items", "__init__", "get", "json"))


def test_held_out_uses_of_training_names_are_found_and_held_out_definitions_are_not():
    found = occurrences(HELD, defined_names(TRAINING))
    names = [o.name for o in found]
    assert names == [
        "acme.widgets.store",
        "WidgetStore",
        "load_widget_config",
        "WidgetStore",
        "load_widget_config",
        "fetch_widget",
        "widget_timeout",
        "MAX_WIDGETS",
    ]
    assert all(HELD.text[o.start : o.end] == o.name for o in found)
    assert [o.first for o in found] == [True, True, True, False, False, True, True, True]
    assert "helper_only_here" not in names and "json" not in names
    assert module_paths("docs/readme.md") == set()


def test_import_statements_are_the_files_import_lines():
    spans = import_statements(HELD)
    assert [HELD.text[s:e] for s, e in spans] == ["from acme.widgets.store import WidgetStore, load_widget_config", "import json"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from custom_llm_codebase.fim import DEFAULT_SET

    folder = make_tiny_model(tmp_path_factory.mktemp("tiny"), [STORE, SETTINGS, HELD_OUT] * 20, vocab_size=400, extra_tokens=DEFAULT_SET)
    return AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


def context(model, tokenizer, training, held_out) -> EvalContext:
    return EvalContext(model=model, tokenizer=tokenizer, documents=held_out, settings={}, domain_options={}, seed=5, training_split=training)


def test_the_evaluator_scores_every_use_on_a_tiny_model(tiny):
    model, tokenizer = tiny
    ctx = context(model, tokenizer, TRAINING, [HELD])
    metrics = evaluate_project_names(ctx)
    assert metrics["project_names_examples"] == 8 and metrics["project_names_first_use_examples"] == 6
    assert len(metrics["project_names_exact_match"].values) == 8
    assert set(metrics["project_names_exact_match"].values) <= {0.0, 1.0}
    assert metrics["import_lines_examples"] == 2 and metrics["project_import_lines_examples"] == 1
    # the same scores score_spans gives for those spans
    found = occurrences(HELD, defined_names(TRAINING))
    direct = [float(s.exact) for s in ctx.score_spans(HELD, [(o.start, o.end) for o in found])]
    assert list(metrics["project_names_exact_match"].values) == direct
    shown = ctx.shown()
    assert {k.rsplit(" ", 1)[0] for k in shown} == {"project name", "import line"}
    for case in shown.values():
        assert isinstance(case["correct"], bool)
        assert case["output"] == case["truth"] if case["correct"] else case["output"].endswith("…")


def test_without_training_names_there_is_no_name_case(tiny):
    model, tokenizer = tiny
    alone = evaluate_project_names(context(model, tokenizer, [], [HELD]))  # every name is defined only in held-out code
    assert alone["project_names_examples"] == 0 and "project_names_exact_match" not in alone
    assert alone["import_lines_examples"] == 2 and alone["project_import_lines_examples"] == 0


class Knows(EvalContext):
    """A context whose model writes exactly the spans listed in ``known`` and nothing else right."""

    known: frozenset[str] = frozenset()

    def score_spans(self, document, spans, stop=None):
        from types import SimpleNamespace

        return [SimpleNamespace(exact=document.text[s:e] in self.known, start=s, text=document.text[s:e], matched=0) for s, e in spans]


def test_the_figure_is_the_share_of_uses_greedy_decoding_writes(monkeypatch):
    import custom_llm_codebase.name_metrics as name_metrics

    monkeypatch.setattr(name_metrics, "offer", lambda *args: None)  # no model to show cases from
    ctx = Knows(model=None, tokenizer=None, documents=[HELD], settings={}, domain_options={}, training_split=TRAINING)
    ctx.known = frozenset({"load_widget_config", "acme.widgets.store"})
    metrics = evaluate_project_names(ctx)
    assert isinstance(metrics["project_names_exact_match"], Cases)
    assert metrics["project_names_exact_match"].value == pytest.approx(3 / 8)
    assert metrics["project_names_first_use_exact_match"].value == pytest.approx(2 / 6)


def test_a_shown_case_is_what_greedy_generation_writes_up_to_its_first_wrong_token(tiny):
    from custom_llm_codebase.shown import greedy_view

    model, tokenizer = tiny
    ctx = context(model, tokenizer, TRAINING, [HELD])
    found = occurrences(HELD, defined_names(TRAINING))
    checked = 0
    for occurrence, score in zip(found, ctx.score_spans(HELD, [(o.start, o.end) for o in found]), strict=True):
        shown = greedy_view(ctx, HELD, score, occurrence.end)
        generated = ctx.generate(HELD.text[: score.start], max_new_tokens=12)
        if score.exact:
            assert generated.startswith(shown)
        else:
            assert shown.endswith("…") and generated.startswith(shown[:-1])
        checked += 1
    assert checked == 8


def test_teacher_forced_infilling_scores_the_middle_after_the_sentinels(tiny):
    from custom_llm_codebase.fim import fim_tokens
    from custom_llm_codebase.fim_metrics import FIM_CASES, PREFIX_CHARS, SUFFIX_CHARS, evaluate_fim, fim_documents

    model, tokenizer = tiny
    held_out = [HELD, doc("src/acme/widgets/store2.py", STORE, "python")]
    off = context(model, tokenizer, TRAINING, held_out)
    assert evaluate_fim(off) == {} and fim_documents(off) == []  # off by default: it costs more than the shared pass
    ctx = context(model, tokenizer, TRAINING, held_out)
    ctx.domain_options = {"fim_eval_cases": FIM_CASES}
    cases = fim_documents(ctx)
    assert 0 < len(cases) <= FIM_CASES and cases == fim_documents(ctx)  # seeded: base and tuned get the same cases
    tokens = fim_tokens(tokenizer)
    assert len(tokenizer(tokens.middle, add_special_tokens=False)["input_ids"]) == 1  # the sentinels are tokens of their own
    for document, start, end in cases:
        before, middle = document.text[:start], document.text[start:end]
        assert before.startswith(tokens.prefix) and before.endswith(tokens.middle) and end == len(document.text)
        prefix, suffix = before[len(tokens.prefix) : -len(tokens.middle)].split(tokens.suffix)
        assert len(prefix) <= PREFIX_CHARS and len(suffix) <= SUFFIX_CHARS and middle.strip() == middle
        assert middle in HELD.text + STORE and (prefix + middle + suffix) in HELD.text + STORE
    metrics = evaluate_fim(ctx)
    assert metrics["fim_examples"] == len(cases) == len(metrics["fim_exact_match"].values)
    assert all(0.0 <= v <= 1.0 for v in metrics["fim_chars_matched"].values) and metrics["fim_bits_per_byte"].value > 0
    direct = [float(ctx.score_spans(d, [(s, e)])[0].exact) for d, s, e in cases]
    assert list(metrics["fim_exact_match"].values) == direct


def test_python_import_lines_include_lazy_imports_inside_functions():
    text = 'import os\n\n\ndef later():\n    from acme.widgets.store import WidgetStore\n    return WidgetStore\n\n"""import this is prose"""\n'
    document = doc("src/lazy.py", text, "python")
    assert [text[s:e] for s, e in import_statements(document)] == ["import os", "from acme.widgets.store import WidgetStore"]
    rust = doc("src/lib.rs", "use std::fmt;\n\nfn main() {}\n", "rust")
    assert [rust.text[s:e] for s, e in import_statements(rust)] == ["use std::fmt;"]
