"""How many cases code-project-names scores on a repository, without training: the split a default
run makes (seed, eval_fraction, max_eval_documents from the default config), the names its training
files define, and their held-out uses. ``python plugins/codebase/scripts/count_project_names.py [SOURCE]``."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from custom_llm.config import RunConfig
from custom_llm.data.split import choose_eval_groups
from custom_llm.testing import ingest_domain
from custom_llm_codebase.name_metrics import CODE_LIKE
from custom_llm_codebase.project_names import defined_names, import_statements, imports_project_module, occurrences


def main(source: Path) -> None:
    config = RunConfig()
    documents = ingest_domain("codebase", source).documents
    held = choose_eval_groups({d.group for d in documents}, config.seed, config.eval_fraction)
    train = [d for d in documents if d.group not in held]
    heldout = [d for d in documents if d.group in held][: config.max_eval_documents]
    project = defined_names(train)
    print(f"{len(train):,} training and {len(heldout):,} held-out documents")
    print(f"defined in training: {len(project.names):,} names {dict(Counter(project.names.values()))}, {len(project.modules):,} module paths")
    uses: Counter[str] = Counter()
    first = imports = project_imports = 0
    for document in heldout:
        if document.metadata.get("language") not in CODE_LIKE:
            continue
        found = occurrences(document, project)
        uses.update(project.names.get(o.name, "module path") for o in found)
        first += sum(o.first for o in found)
        spans = import_statements(document)
        imports += len(spans)
        project_imports += sum(imports_project_module(document.text[s:e], project) for s, e in spans)
    print(f"held-out uses: {sum(uses.values()):,} ({first:,} first uses in their file) {dict(uses)}")
    print(f"import lines: {imports:,} ({project_imports:,} importing a training module)")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
