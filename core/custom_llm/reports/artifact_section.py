"""The artifact check in what people read: report.md's "Shipped artifact" section, and one line per
checked file for the console summary and the model card."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from custom_llm.evaluation.artifact_eval import CHUNK_TOKENS, GREEDY_TOKENS


def _pct(value: float) -> str:
    return f"{value:+.3%}"


def artifact_lines(checks: Sequence[dict[str, Any]] | None, note: str | None = None) -> list[str]:
    """report.md's "Shipped artifact" section: per GGUF file, each figure with its runtime and cases."""
    from custom_llm.evaluation.artifact_chat import chat_lines

    if not checks and not note:
        return []
    lines = ["", "## Shipped artifact", ""]
    if note:
        lines += [note, ""]
    for check in checks or []:
        bpb, top1, tok = check["bits_per_byte"], check["top1_agreement"], check["tokenization_same"]
        lines += [
            f"### {check['artifact']} ({check['bytes_on_disk']:,} bytes)",
            "",
            f"The same {check['documents']} held-out documents ({check['tokens']:,} tokens, {check['bytes']:,} bytes), the same token ids "
            f"and windows, through both runtimes: **PyTorch** = {check['runtimes']['pytorch']}; **llama.cpp** = {check['runtimes']['llama_cpp']}.",
            "",
            "| figure | cases | PyTorch | llama.cpp | change [95% interval] | verdict |",
            "| --- | ---: | --- | --- | --- | --- |",
            f"| bits per byte | {check.get('chunks', check['documents'])} chunks of {CHUNK_TOKENS} tokens | {bpb['pytorch']:.4f} | "
            f"{bpb['llama_cpp']:.4f} | {_pct(bpb['change'])} "
            f"[{_pct(bpb['change_interval'][0])}, {_pct(bpb['change_interval'][1])}] | {bpb['verdict']} |",
            f"| top-1 token agreement | {top1['positions']:,} positions | (reference) | {top1['value']:.4%} | "
            f"[{top1['interval'][0]:.4%}, {top1['interval'][1]:.4%}] | |",
        ]
        lem = check.get("line_exact_match")
        if lem:
            b, c = (lem["discordant"] + [0, 0])[:2]
            lines.append(
                f"| line exact match | {lem['n']:,} lines | {lem['pytorch']:.4f} | {lem['llama_cpp']:.4f} | "
                f"p {lem['p_value']:.3f} (McNemar; {b} only PyTorch, {c} only llama.cpp) | {lem['verdict']} |"
            )
        lines += [
            "",
            f"llama.cpp's own tokenizer gives the run tokenizer's ids on {tok['documents']} of {tok['of']} documents "
            "(the figures above use the run tokenizer's ids in both runtimes).",
        ]
        if check.get("greedy"):
            same = sum(g["same"] for g in check["greedy"])
            lines += ["", f"Greedy continuations ({GREEDY_TOKENS} tokens; shown, not a figure): {same} of {len(check['greedy'])} the same.", ""]
            lines += ["| prompt (end) | PyTorch | llama.cpp |", "| --- | --- | --- |"]
            for g in check["greedy"]:
                cells = [str(g[k]).replace("|", "\\|").replace("\n", "⏎")[:120] for k in ("prompt", "pytorch", "llama_cpp")]
                lines.append(f"| `{cells[0]}` | `{cells[1]}` | `{cells[2]}` |")
        lines += chat_lines(check.get("chat"))
        lines.append("")
    return lines


def summary_lines(checks: Sequence[dict[str, Any]] | None) -> list[str]:
    """One line per checked artifact for the console summary and the model card."""
    out = []
    for check in checks or []:
        bpb = check["bits_per_byte"]
        out.append(
            f"Shipped artifact {check['artifact']} through llama.cpp: {bpb['llama_cpp']:.4f} bits per byte against PyTorch's {bpb['pytorch']:.4f} "
            f"({_pct(bpb['change'])}, {bpb['verdict']}) on {check['tokens']:,} held-out tokens; "
            f"top-1 agreement {check['top1_agreement']['value']:.2%}."
        )
        chat = check.get("chat")
        if chat:
            out.append(
                f"Its chat path (llama.cpp's template and stop tokens): {chat['agreement']['same']} of {chat['cases']} instruction answers "
                f"the same as PyTorch's" + (f"; {chat['finding']}." if chat.get("finding") else ".")
            )
    return out
