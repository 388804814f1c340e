"""The ``code-project-names`` evaluator: does the model write the names and imports of this project?

Every case is teacher-forced from the shared pass over each held-out file (``EvalContext.score_spans``),
so all occurrences are scored (up to ``max_cases``), not a sample:

- ``project_names_exact_match``: every held-out occurrence of a name the training split defines
  (see ``project_names``): would greedy decoding write it from the code before it?
- ``project_names_first_use_exact_match``: only each name's first occurrence in its file, where it
  cannot be copied from earlier in the same file: knowledge from training or none.
- ``import_lines_exact_match``: every held-out top-level import statement, then its line end;
  ``project_import_lines_exact_match``: those importing a module of the training split.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from custom_llm import Cases, Document, EvalContext
from custom_llm_codebase.evaluators import CODE_LIKE
from custom_llm_codebase.project_names import defined_names, import_statements, imports_project_module, occurrences
from custom_llm_codebase.shown import offer


def evaluate_project_names(ctx: EvalContext) -> Mapping[str, Any]:
    project = defined_names(ctx.training_documents())
    names: list[tuple[Document, Any, int]] = []
    first_use: list[bool] = []
    imports: list[tuple[Document, Any, int]] = []
    project_imports: list[bool] = []
    for document in ctx.documents:
        if document.metadata.get("language") not in CODE_LIKE or len(names) >= ctx.max_cases:
            continue
        found = occurrences(document, project)
        for occurrence, score in zip(found, ctx.score_spans(document, [(o.start, o.end) for o in found]), strict=True):
            names.append((document, score, occurrence.end))
            if occurrence.first:
                first_use.append(score.exact)
        statements = import_statements(document)
        for (start, end), score in zip(statements, ctx.score_spans(document, statements, stop="\n"), strict=True):
            imports.append((document, score, end))
            if imports_project_module(document.text[start:end], project):
                project_imports.append(score.exact)
    metrics: dict[str, Any] = {"project_names_examples": len(names)}
    if names:
        metrics["project_names_exact_match"] = Cases(score.exact for _, score, _ in names)
        metrics["project_names_first_use_exact_match"] = Cases(first_use)
        metrics["project_names_first_use_examples"] = len(first_use)
        offer(ctx, "project name", names)
    metrics["import_lines_examples"] = len(imports)
    if imports:
        metrics["import_lines_exact_match"] = Cases(score.exact for _, score, _ in imports)
        offer(ctx, "import line", imports)
    metrics["project_import_lines_examples"] = len(project_imports)
    if project_imports:
        metrics["project_import_lines_exact_match"] = Cases(project_imports)
    return metrics
