"""What a run leaves for people: report.json, report.md with a loss curve, the model card, the
manifest, and the summary table printed at the end."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

from custom_llm import __version__
from custom_llm.data.pseudonyms import shown_sources
from custom_llm.data.storage import replacing, write_json, write_text
from custom_llm.metric_kinds import is_count
from custom_llm.models.lineage import lineage_lines
from custom_llm.reports.gate import gate_lines
from custom_llm.reports.release_report import release_lines
from custom_llm.run.run_state import Run

PACKAGES = ("torch", "transformers", "peft", "datasets", "tokenizers", "accelerate", "pluggy")


def versions(run: Run) -> dict[str, Any]:
    found: dict[str, Any] = {"custom-llm": __version__}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    found["plugins"] = {i.name: i.version or "unversioned" for i in run.plugins.plugin_infos() if not i.error}
    return found


def write_manifest(run: Run, extra: dict[str, Any]) -> dict[str, Any]:
    manifest = {
        "versions": versions(run),
        "seed": run.config.seed,
        "domain": run.domain.name,
        "recipe": run.recipe.name,
        "base_model": run.config.base_model,
        "sources": shown_sources(run),  # ids under ``paths: hashed``
        "files": run.artifacts.get("files", []),
        "preparers": [
            p.name for p in sorted((p for p in run.plugins.preparers.values() if p.applies_to(run.domain.name)), key=lambda p: (p.order, p.name))
        ],
        "counts": {stage: dict(report.counts) for stage, report in run.reports.items()},
        "timings_seconds": run.timings,
        **extra,
    }
    write_json(run.output / "manifest.json", manifest)
    return manifest


def comparison_rows(
    run: Run,
    base: dict[str, dict[str, float]],
    tuned: dict[str, dict[str, float]],
    base_cases: dict[str, Any] | None = None,
    tuned_cases: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One row per metric: base and tuned, and where the evaluator gave per-case values for both on
    the same cases, the number of cases, 95% intervals, the paired test and its verdict."""
    from custom_llm.evaluation.statistics import compare

    rows = []
    for evaluator, metrics in tuned.items():
        lower = set(run.plugins.evaluators.get(evaluator).lower_is_better)
        for metric, value in metrics.items():
            before = base.get(evaluator, {}).get(metric)
            row: dict[str, Any] = {"evaluator": evaluator, "metric": metric, "base": before, "tuned": value, "verdict": None}
            lower_is_better = metric in lower or metric.endswith("bits_per_byte")
            paired = [(c or {}).get(evaluator, {}).get(metric) for c in (base_cases, tuned_cases)]
            if not is_count(metric) and all(paired) and len(paired[0]["values"]) == len(paired[1]["values"]):
                result = compare(
                    paired[0]["values"], paired[1]["values"], lower_is_better, paired[0]["weights"], paired[1]["weights"], seed=run.config.seed
                )
                row.update(
                    n=result.n,
                    test=result.test,
                    p_value=result.p_value,
                    base_interval=list(result.base_interval),
                    tuned_interval=list(result.tuned_interval),
                    verdict=result.verdict,
                    discordant=result.discordant,
                )
            rows.append(row)
    return rows


def evaluation_lines(plan: dict[str, Any] | None) -> list[str]:
    """The cases the evaluation covered and, under a time budget, why (custom_llm.evaluation.eval_plan)."""
    if not plan:
        return []
    line = (
        f"Evaluated on {plan['documents']} of {plan['documents_available']} held-out documents, at most {plan['max_examples']} generated "
        f"and {plan['max_cases']} teacher-forced cases per evaluator, the same cases for base and tuned"
    )
    if plan.get("share_seconds") is not None:
        line += (
            f": sized to the time budget ({plan['share_seconds']:.0f} s for both evaluations; {plan['fraction']:.0%} of the held-out set, "
            f"chosen with the seed, from a calibration that took {plan.get('calibration_seconds')} s). "
            f"Base {plan.get('base_seconds')} s, tuned {plan.get('tuned_seconds')} s"
        )
    return ["", line + "."]


SCRATCH_ADVICE = "Train longer, on more data, or start from a pretrained base model."


def xz_verdict(tuned_bpb: float | None, xz_bpb: float | None, advice: str = SCRATCH_ADVICE) -> str:
    """Whether the tuned model beats xz on the held-out text; ``advice`` (what fits this run) when not."""
    if tuned_bpb is None or xz_bpb is None:
        return ""
    if tuned_bpb < xz_bpb:
        return f"The tuned model needs {tuned_bpb:.3f} bits per held-out byte, less than xz's {xz_bpb:.3f}: it has learned more than a compressor."
    return (
        f"The tuned model needs {tuned_bpb:.3f} bits per held-out byte, more than xz's {xz_bpb:.3f} with the training split as context: "
        f"it has learned less than a compressor. {advice}"
    )


def loss_curve(history: list[dict[str, Any]], path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(h["step"], h["loss"]) for h in history if "loss" in h]
    held = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    if not train and not held:
        return False
    figure, axis = plt.subplots(figsize=(7, 4))
    if train:
        axis.plot(*zip(*train, strict=False), label="training loss")
    if held:
        axis.plot(*zip(*held, strict=False), marker="o", label="held-out loss")
    axis.set_xlabel("step")
    axis.set_ylabel("loss (nats/token)")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    with replacing(path) as temporary:  # atomic, like every file a run writes
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)
    return True


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _with_interval(row: dict[str, Any], key: str) -> str:
    interval = row.get(f"{key}_interval")
    return _cell(row, key) + (f" [{interval[0]:.4f}, {interval[1]:.4f}]" if interval else "")


def _p(row: dict[str, Any]) -> str:
    p = row.get("p_value")
    return "" if p is None else ("< 0.001" if p < 0.001 else f"{p:.3f}")


OUTCOMES = ("tuned right, base wrong", "base right, tuned wrong", "both wrong", "both right")


def _example_lines(examples: list[dict[str, Any]]) -> list[str]:
    """Held-out cases side by side: the end of the prompt, the truth, the base's and the tuned model's
    output, each labelled with its outcome, under a line saying how the offered cases split."""
    if not examples:
        return []
    offered = examples[0].get("offered") or {}
    split = "; ".join(f"{o} {offered.get(o, 0):,}" for o in OUTCOMES)
    lines = ["", f"## Held-out cases, side by side ({len(examples)}, chosen with the seed by outcome)", ""]
    if offered:
        lines += [f"Of the {sum(offered.values()):,} cases the evaluators offered: {split}. The first three kinds share the places.", ""]
    for example in examples:
        title = f"### {example['key']}" + (f": {example['outcome']}" if example.get("outcome") else "")
        lines += [title, "", "prompt (end):", "", "```", example["prompt"][-200:], "```", "", "| | output |", "| --- | --- |"]
        for who in ("truth", "base", "tuned"):
            text = str(example[who]).replace("|", "\\|").replace("\n", "⏎")
            lines.append(f"| {who} | `{text[:200]}` |")
        lines.append("")
    return lines


def is_right(case: dict[str, Any]) -> bool:
    """Whether a shown case's output counts as right: as its evaluator said (``correct``), else the
    output equals the truth once whitespace is normalized."""
    if "correct" in case:
        return bool(case["correct"])
    return " ".join(str(case["output"]).split()) == " ".join(str(case["truth"]).split())


def outcome(base_case: dict[str, Any], tuned_case: dict[str, Any]) -> str:
    return OUTCOMES[{(False, True): 0, (True, False): 1, (False, False): 2, (True, True): 3}[(is_right(base_case), is_right(tuned_case))]]


def pick_examples(base: dict[str, Any], tuned: dict[str, Any], seed: int, count: int = 6) -> list[dict[str, Any]]:
    """``count`` cases both models were shown, chosen with the seed to be informative: up to a third
    each where only the tuned model is right, where only the base is right, and where both are wrong
    (both right only when those run short), each labelled with its outcome and with the tally of
    outcomes over every offered case, so the choice cannot flatter either model unseen."""
    import random

    rng = random.Random(seed)
    keys = sorted(set(base) & set(tuned))
    by_outcome: dict[str, list[str]] = {o: [] for o in OUTCOMES}
    for key in keys:
        by_outcome[outcome(base[key], tuned[key])].append(key)
    for members in by_outcome.values():
        rng.shuffle(members)
    offered = {o: len(members) for o, members in by_outcome.items()}
    chosen: list[tuple[str, str]] = []
    share = max(1, count // 3)
    for kind in OUTCOMES[:3]:
        chosen += [(key, kind) for key in by_outcome[kind][:share]]
    rest = [(key, kind) for kind in OUTCOMES for key in by_outcome[kind][share if kind != OUTCOMES[3] else 0 :]]
    chosen += rest[: max(0, count - len(chosen))]
    return [
        {
            "key": key,
            "outcome": kind,
            "prompt": tuned[key]["prompt"],
            "truth": tuned[key]["truth"],
            "base": base[key]["output"],
            "tuned": tuned[key]["output"],
            "offered": offered,
        }
        for key, kind in chosen[:count]
    ]


def _cases(row: dict[str, Any]) -> str:
    n = row.get("n")
    return f"{int(n):,}" if isinstance(n, (int, float)) and not isinstance(n, bool) else ""


def _cell(row: dict[str, Any], key: str) -> str:
    value = row[key]
    return f"{int(value):,}" if is_count(row["metric"]) and isinstance(value, (int, float)) else _fmt(value)


def render_markdown(report: dict[str, Any], has_curve: bool) -> str:
    data, training = report["data"], report.get("training", {})
    lines = [
        f"# custom-llm run: {report['domain']} / {report['recipe']}",
        "",
        f"Base model: {report['base_description']}",
        "",
        *_base_lines(report.get("base_model_source")),
        *lineage_lines(report),
        "## Evaluation on held-out documents",
        "",
        "Intervals are 95%; base and tuned are compared on the same cases (McNemar's exact test for exact match,",
        "a paired bootstrap otherwise); the verdict is at the 5% level. See docs/concepts.md#reading-the-verdict.",
        "",
        "| evaluator | metric | cases | base | tuned | p | verdict |",
        "| --- | --- | ---: | --- | --- | ---: | --- |",
    ]
    for row in report["comparison"]:
        lines.append(
            f"| {row['evaluator']} | {row['metric']} | {_cases(row)} | {_with_interval(row, 'base')} | "
            f"{_with_interval(row, 'tuned')} | {_p(row)} | {row.get('verdict') or ''} |"
        )
    lines += evaluation_lines(report.get("evaluation"))
    lines += shipped_and_memorized_lines(report)
    lines += release_lines(report)  # the retrieval baseline and general ability
    lines += gate_lines(report.get("gate"))  # the release gate, where gate: sets one
    lines += [
        "",
        f"No-learning baseline (xz -9e, training split as context): {_fmt(report['xz_bits_per_byte'])} bits per byte.",
        "",
        report["xz_verdict"],
        "",
        "## Data",
        "",
        "| figure | value |",
        "| --- | --- |",
    ]
    for key, value in data.items():
        if not isinstance(value, (dict, list)):
            lines.append(f"| {key} | {_fmt(value)} |")
    redacted = {k: v for k, v in data.get("counts", {}).items() if k.startswith("redact")}  # counts per kind, never a value
    lines += ["", "Redaction: " + (", ".join(f"{k} {_fmt(v)}" for k, v in sorted(redacted.items())) or "nothing was redacted") + "."]
    lines += ["", "## Training", "", "| figure | value |", "| --- | --- |"]
    for key, value in training.items():
        lines.append(f"| {key} | {_fmt(value)} |")
    if has_curve:
        lines += ["", "![loss curve](loss_curve.png)"]
    lines += _example_lines(report.get("examples", []))
    issues = report.get("ingest_issues", [])
    if issues:
        lines += ["", f"## Left out ({len(issues)}: whole files, and lines or sections of files that were read)", ""]
        lines += [f"- `{i['path']}`: {i['reason']}" for i in issues[:100]]
        if len(issues) > 100:
            lines.append(f"- ... and {len(issues) - 100} more (see report.json)")
    return "\n".join(lines) + "\n"


_STAGE_FIGURES = (
    ("discover", ("files", "files_left_out", "parts_left_out")),
    ("split", ("train_documents", "eval_documents")),
    ("tokenize and pack", ("train_tokens", "train_blocks", "eval_tokens", "seq_len", "packing_efficiency")),
)


def _base_lines(source: dict[str, Any] | None, card: bool = False) -> list[str]:
    """The base model's provenance: name, file and hash, licence, and what quantization it came in.
    The model card (``card``) names the base's file, not its path on the machine that trained."""
    if not source:
        return []
    lines = ["## Base model", "", "| figure | value |", "| --- | --- |"]
    for key in ("name", "architecture", "kind", "path", "digest", "licence", "quantization"):
        value = source.get(key)
        if card and key == "path" and value:
            key, value = "file", Path(str(value)).name
        elif card and key == "name" and value:
            value = Path(str(value)).name  # a base given as --base-model PATH: its folder's or file's name
        lines.append(f"| {key} | {value if value is not None else '-'} |")
    quantization = source.get("quantization")
    if quantization and quantization != "F32":
        lines += [
            "",
            f"The base came as a {quantization} GGUF file; it was dequantized to fp32 before training, so the tuned "
            f"model's weights are fp32, not {quantization}.",
        ]
    return [*lines, ""]


def source_lines(files: list[dict[str, Any]]) -> list[str]:
    """The card's data sources: per source its file count, bytes and one hash of its file list, never
    a path (file names can carry personal data, and the card travels with the model); the paths and
    each file's hash stay in manifest.json. The hash is blake2b (128-bit) of the source's sorted
    ``path TAB blake2b`` lines, so a copy of the manifest proves which files were read."""
    import hashlib

    by_source: dict[str, list[dict[str, Any]]] = {}
    for item in files:
        by_source.setdefault(str(item.get("source", "")), []).append(item)
    lines = [
        "## Data sources",
        "",
        "File names and paths are kept out of this card; every file with its path and blake2b is in the run's",
        "manifest.json, which stays with the organization.",
        "",
        "| source | files | bytes | blake2b of the file list |",
        "| --- | ---: | ---: | --- |",
    ]
    for number, (_, items) in enumerate(sorted(by_source.items()), start=1):
        listing = "".join(f"{i['path']}\t{i['blake2b']}\n" for i in sorted(items, key=lambda i: str(i["path"])))
        digest = hashlib.blake2b(listing.encode("utf-8"), digest_size=16).hexdigest()
        size = sum(int(i.get("bytes") or 0) for i in items)
        lines.append(f"| source {number} | {len(items):,} | {size:,} | {digest} |")
    return lines


def render_model_card(report: dict[str, Any], manifest: dict[str, Any]) -> str:
    counts = report["data"].get("counts", {})
    redacted = {k: v for k, v in counts.items() if k.startswith("redact")}
    lines = [
        "---",
        "library_name: transformers" if report["adapter"] is None else "library_name: peft",
        "tags: [custom-llm]",
        "---",
        "",
        f"# {report['domain']} model trained with custom-llm ({report['recipe']})",
        "",
        f"Base: {_card_base_description(report)}.",
        "",
        *_base_lines(report.get("base_model_source"), card=True),
        *lineage_lines(report),
        *source_lines(manifest["files"]),
    ]
    lines += ["", "## Counts per stage", ""]
    data = report["data"]
    stage_lines = {stage: ", ".join(f"{k.replace('_', ' ')} {_fmt(data[k])}" for k in keys if k in data) for stage, keys in _STAGE_FIGURES}
    lines.append(f"- discover: {stage_lines['discover']}")
    for stage, stage_counts in manifest["counts"].items():
        lines.append(f"- {stage}: " + ", ".join(f"{k} {v}" for k, v in sorted(stage_counts.items())))
    lines += [f"- {stage}: {text}" for stage, text in stage_lines.items() if stage != "discover" and text]
    lines += ["", "## Redaction", ""]
    steps = manifest.get("preparers")
    if steps is not None:
        lines += [f"Preparation steps, in order: {', '.join(steps) or 'none'}.", ""]
    lines += [f"- {k}: {v}" for k, v in sorted(redacted.items())] or ["- nothing was redacted"]
    lines += [
        "",
        "## Evaluation (held-out documents)",
        "",
        "Intervals are 95%; base and tuned are compared on the same cases (McNemar's exact test for exact match,",
        "a paired bootstrap otherwise); the verdict is at the 5% level.",
        "",
        "| evaluator | metric | cases | base | tuned | p | verdict |",
        "| --- | --- | ---: | --- | --- | ---: | --- |",
    ]
    for row in report["comparison"]:
        lines.append(
            f"| {row['evaluator']} | {row['metric']} | {_cases(row)} | {_with_interval(row, 'base')} | "
            f"{_with_interval(row, 'tuned')} | {_p(row)} | {row.get('verdict') or ''} |"
        )
    lines += ["", f"xz baseline: {_fmt(report['xz_bits_per_byte'])} bits per byte. {report['xz_verdict']}"]
    lines += card_release_lines(report)
    lines += ["", "## Versions", ""]
    for name, version in manifest["versions"].items():
        if name == "plugins" and isinstance(version, dict):
            lines += [f"- plugin {plugin}: {plugin_version}" for plugin, plugin_version in version.items()]
        else:
            lines.append(f"- {name}{' (core)' if name == 'custom-llm' else ''}: {version}")
    lines += ["", "## Loading", "", "```python"]
    if report["adapter"]:
        lines += [
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "from peft import PeftModel",
            "# BASE: the base model's folder on this machine, the one named under 'Base model' (check its blake2b);",
            "# `custom-llm base-models` shows where a named base is installed. Or load the self-contained",
            "# `custom-llm export RUN --format hf` folder instead, with no base at all.",
            f"BASE = {_base_placeholder(report)!r}",
            "tokenizer = AutoTokenizer.from_pretrained('model')",
            "base = AutoModelForCausalLM.from_pretrained(BASE)",
            "base.resize_token_embeddings(len(tokenizer))  # when the run added domain tokens",
            "model = PeftModel.from_pretrained(base, 'model')",
        ]
    else:
        lines += [
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "model = AutoModelForCausalLM.from_pretrained('model')",
            "tokenizer = AutoTokenizer.from_pretrained('model')",
        ]
    lines.append("```")
    return "\n".join(lines) + "\n"


def shipped_and_memorized_lines(report: dict[str, Any]) -> list[str]:
    """report.md's "Shipped artifact" and "Memorization" sections (docs/deploy.md, docs/concepts.md#memorization)."""
    from custom_llm.evaluation.memorization import memorization_lines
    from custom_llm.reports.artifact_section import artifact_lines

    return [*artifact_lines(report.get("artifacts"), report.get("artifacts_note")), *memorization_lines(report.get("memorization"))]


def card_release_lines(report: dict[str, Any]) -> list[str]:
    """The card's lines on the shipped GGUF through llama.cpp and on memorization (no secret: canaries by index)."""
    from custom_llm.evaluation.memorization import summary_line
    from custom_llm.reports.artifact_section import summary_lines

    lines = [*summary_lines(report.get("artifacts")), summary_line(report.get("memorization"))]
    return [line for text in lines if text for line in ("", text)]


def _card_base_description(report: dict[str, Any]) -> str:
    """The base as the card names it: a base given as a path by its folder's or file's name."""
    text = str(report.get("base_description") or report.get("base_model") or "")
    name = str((report.get("base_model_source") or {}).get("name") or report.get("base_model") or "")
    if name and ("/" in name or "\\" in name) and text.startswith(name):
        text = Path(name).name + text[len(name) :]
    return text


def _base_placeholder(report: dict[str, Any]) -> str:
    """What stands for the base's folder in the card's snippet: its name, never a local path."""
    source = report.get("base_model_source") or {}
    name = str(source.get("name") or report.get("base_model") or "base")
    return f"path/to/{Path(name).name}"


def write_reports(run: Run, report: dict[str, Any], manifest: dict[str, Any]) -> None:
    has_curve = loss_curve(report.get("history", []), run.output / "loss_curve.png")
    write_json(run.output / "report.json", report)
    write_text(run.output / "report.md", render_markdown(report, has_curve))
    card = render_model_card(report, manifest)
    write_text(run.output / "README.md", card)
    if (run.output / "model").is_dir():
        write_text(run.output / "model" / "README.md", card)


def summary_table(report: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title=f"{report['domain']} / {report['recipe']}: base vs tuned on held-out documents")
    for column in ("evaluator", "metric", "cases", "base", "tuned", "p", "verdict"):
        table.add_column(column, justify="right" if column in ("cases", "base", "tuned", "p") else "left")
    colours = {"better": "[green]better", "worse": "[red]worse", "no significant difference": "[yellow]no significant difference"}
    for row in report["comparison"]:
        table.add_row(
            row["evaluator"],
            row["metric"],
            _cases(row),
            _with_interval(row, "base"),
            _with_interval(row, "tuned"),
            _p(row),
            colours.get(row.get("verdict") or "", ""),
        )
    table.add_row("xz -9e baseline", "bits_per_byte", "", "", _fmt(report["xz_bits_per_byte"]), "", "")
    return table
