"""Discovery and ingestion on real code: click's functions, eight languages, .gitignore, units."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from conftest import CLICK_SOURCE, DOMAIN, git

SOURCES = {
    "app.py": "import os\n\nclass Greeter:\n    def greet(self, name):\n        return 'hi ' + name\n\n"
    "def main():\n    print(Greeter().greet(os.name))\n",
    "web/app.js": "import fs from 'fs';\n\nclass Store {\n  get(key) {\n    return this.items[key];\n  }\n}\n\n"
    "function load(path) {\n  return fs.readFileSync(path);\n}\n\nconst twice = (x) => x * 2;\n",
    "web/types.ts": "import { Store } from './app';\n\ninterface Item { id: number }\n\n"
    "export function find(items: Item[], id: number): Item | undefined {\n"
    "  return items.find((i) => i.id === id);\n}\n",
    "web/View.tsx": "import React from 'react';\n\nexport function View(props: { name: string }) {\n  return <div>{props.name}</div>;\n}\n",
    "src/Main.java": "package demo;\n\nimport java.util.List;\n\npublic class Main {\n"
    "    public static int sum(List<Integer> xs) {\n        int s = 0;\n"
    "        for (int x : xs) { s += x; }\n        return s;\n    }\n}\n",
    "cmd/main.go": 'package main\n\nimport "fmt"\n\ntype Point struct { X, Y int }\n\n'
    "func (p Point) Norm() int { return p.X*p.X + p.Y*p.Y }\n\nfunc main() {\n"
    "\tfmt.Println(Point{1, 2}.Norm())\n}\n",
    "src/lib.rs": "use std::fmt;\n\npub struct Counter { n: u32 }\n\nimpl Counter {\n"
    "    pub fn bump(&mut self) -> u32 { self.n += 1; self.n }\n}\n\n"
    "pub fn start() -> Counter { Counter { n: 0 } }\n",
    "c/util.c": "#include <stdio.h>\n\nstruct pair { int a; int b; };\n\nint add(int a, int b) {\n    return a + b;\n}\n",
    "cpp/shape.cpp": "#include <vector>\n\nclass Shape {\npublic:\n    double area() const { return w * h; }\n"
    "    double w, h;\n};\n\ndouble total(const std::vector<Shape>& s) {\n"
    "    double t = 0;\n    for (auto& x : s) t += x.area();\n    return t;\n}\n",
    "README.md": "# Demo\n\nA small multi-language repository.\n",
}
EXPECTED = {  # file -> (language, qualified names of its units)
    "app.py": ("python", {"Greeter", "Greeter.greet", "main"}),
    "web/app.js": ("javascript", {"Store", "Store.get", "load", "twice"}),
    "web/types.ts": ("typescript", {"Item", "find"}),
    "web/View.tsx": ("tsx", {"View"}),
    "src/Main.java": ("java", {"Main", "Main.sum"}),
    "cmd/main.go": ("go", {"Point", "Point.Norm", "main"}),
    "src/lib.rs": ("rust", {"Counter", "Counter::bump", "start"}),
    "c/util.c": ("c", {"pair", "add"}),
    "cpp/shape.cpp": ("cpp", {"Shape", "Shape::area", "total"}),
}


def write(folder, files):
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_every_function_python_ast_finds_in_click_is_a_unit(click_ingested):
    documents = click_ingested.by_source()
    python_files = sorted(CLICK_SOURCE.rglob("*.py"))
    assert len(python_files) >= 15
    checked = 0
    for path in python_files:
        text = path.read_text(encoding="utf-8")
        expected = {(n.name, n.lineno) for n in ast.walk(ast.parse(text)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        document = documents[path.relative_to(CLICK_SOURCE).as_posix()]
        assert document.metadata["parse_ok"] is True and document.metadata["language"] == "python"
        found = {(u["name"], u["line"]) for u in document.metadata["units"] if u["kind"] in ("function", "method")}
        assert expected <= found, (path.name, expected - found)
        checked += len(expected)
    assert checked > 500  # click has several hundred functions and methods


def test_units_carry_offsets_context_and_kinds(click_ingested):
    document = click_ingested.by_source()["core.py"]
    text, units = document.text, document.metadata["units"]
    assert document.metadata["chars"] == len(text)
    command = next(u for u in units if u["qualname"] == "Command.invoke")
    assert command["kind"] == "method" and units[command["parent"]]["qualname"] == "Command"
    assert text[command["start"] : command["end"]].lstrip().startswith(("def invoke", "@"))
    assert text[command["code_start"] : command["end"]].strip()  # the body after the docstring
    assert '"""' not in text[command["code_start"] : command["code_start"] + 40]
    imports = [text[s:e] for s, e in document.metadata["imports"]]
    assert any(i.startswith(("import ", "from ")) for i in imports)


def test_a_repository_in_eight_languages_yields_units_in_each(tmp_path, ingest):
    write(tmp_path, SOURCES)
    result = ingest(tmp_path)
    documents = result.by_source()
    assert set(documents) == set(SOURCES)
    for name, (language, names) in EXPECTED.items():
        metadata = documents[name].metadata
        assert metadata["language"] == language and metadata["parse_ok"] is True, name
        assert names <= {u["qualname"] for u in metadata["units"]}, (name, metadata["units"])
    assert documents["README.md"].metadata["language"] == "markdown"
    assert documents["README.md"].metadata["units"] == []
    counts = result.report.counts
    assert counts["units: function"] and counts["units: method"] and counts["units: class"]


def test_a_file_that_does_not_parse_is_kept_as_text_and_flagged(tmp_path, ingest):
    write(tmp_path, {"good.py": "def ok():\n    return 1\n", "broken.py": "def broken(:\n    return (\n"})
    result = ingest(tmp_path)
    broken = result.by_source()["broken.py"]
    assert broken.metadata["parse_error"] is True and broken.metadata["units"] == []
    assert broken.text.startswith("def broken(")
    assert result.report.counts["kept with fallback: parse error"] == 1
    kept = {issue.path: issue.reason for issue in result.report.fallbacks}
    assert kept == {"broken.py": "parse error: kept as plain python text, without syntax units"}
    assert "broken.py" not in result.reasons()  # kept: not among the files left out
    assert result.report.left_out() == (0, 0)


def test_gitignore_is_honoured_in_a_git_work_tree(tmp_path, ingest):
    write(
        tmp_path,
        {
            ".gitignore": "*.log\ngenerated_dir/\n!keep.log\n",
            "src/main.py": "def main():\n    return 0\n",
            "src/debug.log": "noise\n",
            "keep.log": "kept despite *.log\n",
            "generated_dir/out.py": "def out():\n    return 1\n",
            "untracked.py": "def new():\n    return 2\n",
            "node_modules/lib/index.js": "module.exports = 1;\n",
        },
    )
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "src/main.py", ".gitignore", "keep.log")
    git(tmp_path, "commit", "-q", "-m", "start")
    result = ingest(tmp_path, include_untracked=True)
    sources = set(result.by_source())
    assert {"src/main.py", "keep.log", "untracked.py", ".gitignore"} <= sources
    assert not sources & {"src/debug.log", "generated_dir/out.py", "node_modules/lib/index.js"}
    assert result.report.counts["untracked files included"] == 2  # untracked.py and node_modules/lib/index.js (vendored)


def test_only_what_git_tracks_is_trained_unless_untracked_files_are_asked_for(tmp_path, ingest):
    write(
        tmp_path,
        {
            ".gitignore": "*.log\n",
            "src/main.py": "def main():\n    return 0\n",
            "notes.md": "# my scratch notes, never committed\n",
            "src/draft.py": "def draft():\n    return 1\n",
            "scratch/a.py": "A = 1\n",
            "scratch/deep/b.py": "B = 2\n",
            "console.log": "ignored by .gitignore: neither trained nor counted\n",
        },
    )
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "src/main.py", ".gitignore")
    git(tmp_path, "commit", "-q", "-m", "start")
    git(tmp_path, "add", "src/draft.py")  # staged, not yet committed: git tracks it
    tracked = ingest(tmp_path)
    assert set(tracked.by_source()) == {"src/main.py", "src/draft.py", ".gitignore"}
    assert tracked.report.counts["untracked files left out"] == 3
    reasons = tracked.reasons()
    assert reasons["notes.md"].startswith("untracked: not committed to git;") and "include_untracked: true" in reasons["notes.md"]
    assert reasons["scratch/"].startswith("untracked: not committed to git (2 files);")  # a wholly untracked folder: one entry
    assert tracked.report.counts["skipped: untracked"] == 2 and "console.log" not in reasons
    everything = ingest(tmp_path, include_untracked=True)
    assert set(everything.by_source()) == {"src/main.py", "src/draft.py", ".gitignore", "notes.md", "scratch/a.py", "scratch/deep/b.py"}
    assert everything.report.counts["untracked files included"] == 3 and not everything.report.counts["untracked files left out"]


def test_gitignore_is_honoured_without_git(tmp_path, ingest, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # tmp_path is not in a work tree
    write(
        tmp_path,
        {
            ".gitignore": "*.log\nbuild_output/\n",
            "pkg/.gitignore": "private.py\n",
            "pkg/public.py": "def public():\n    return 1\n",
            "pkg/private.py": "def private():\n    return 2\n",
            "app.log": "noise\n",
            "build_output/x.py": "X = 1\n",
            "main.py": "print('hi')\n",
        },
    )
    result = ingest(tmp_path)
    assert set(result.by_source()) == {"pkg/public.py", "main.py"}
    assert result.report.counts["ignored by .gitignore"] == 3


def test_importing_the_plugin_stays_light():
    heavy = "('tree_sitter', 'detect_secrets', 'datasketch', 'numpy', 'torch')"
    code = f"import sys, custom_llm_codebase.plugin; print(sorted(m for m in {heavy} if m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_domain_recipes_and_evaluators_are_registered(plugins):
    domain = plugins.domains.get(DOMAIN)
    assert domain.default_source == "." and domain.default_recipe == "lora" and domain.default_base_model == "smollm2-135m-instruct"
    for key in ("max_file_bytes", "fim_rate", "fim_spm_rate", "fim_syntax_rate", "exclude", "include_units", "near_dedup_threshold", "num_perm"):
        assert key in domain.options
    for name in domain.evaluators:
        assert name in plugins.evaluators
    assert plugins.evaluators.owner("code-infilling") == DOMAIN
    adapter = {"seq_len": 256, "batch_size": 8, "learning_rate": 2e-3, "lora_targets": ["all-linear"], "time_budget": "10m"}
    assert domain.recipe_defaults == {"lora": adapter, "qlora": adapter, "full": {"seq_len": 512}, "scratch": {"seq_len": 256}}
    assert plugins.domains.owner(DOMAIN) == DOMAIN
    from custom_llm.plugins import contract_problem
    from custom_llm_codebase import plugin

    assert contract_problem(plugin, DOMAIN) == ""  # no hook of contract 0.1: core calls the domain's own functions
    assert (domain.discover, domain.ingest, domain.make_examples, domain.special_tokens) == (
        plugin.discover,
        plugin.ingest,
        plugin.make_examples,
        plugin.special_tokens,
    )


@pytest.mark.parametrize("pattern,left_out", [("*.md", "README.md"), ("web/*", "web/app.js")])
def test_exclude_option_leaves_files_out_with_a_reason(tmp_path, ingest, pattern, left_out):
    write(tmp_path, SOURCES)
    result = ingest(tmp_path, exclude=[pattern])
    assert left_out not in result.by_source()
    assert result.reasons()[left_out].startswith("excluded")


def test_workers_give_the_same_documents_and_report(click_copy, ingest, monkeypatch):
    from custom_llm_codebase import ingestion

    monkeypatch.setattr(ingestion, "POOL_MIN_FILES", 1)  # click has fewer files than the pool needs by default
    (click_copy / "settings.py").write_text('PASSWORD = "hunter2-hunter2"\n\ndef f():\n    return PASSWORD\n')
    one = ingest(click_copy)
    two = ingest(click_copy, workers=2)
    assert [d.to_row() for d in two.documents] == [d.to_row() for d in one.documents]
    assert two.report.counts == one.report.counts and two.report.issues == one.report.issues
    assert "<SECRET:password>" in two.by_source()["settings.py"].text
    assert all("_minhash" not in d.metadata for d in two.documents)
