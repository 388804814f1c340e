"""The report's side-by-side examples: base and tuned outputs on the same cases, picked by outcome
(tuned right and base wrong first), so a reader sees what changed, not only by how much."""

from __future__ import annotations

from typing import Any

OUTCOMES = ("tuned right, base wrong", "base right, tuned wrong", "both wrong", "both right")


def example_lines(examples: list[dict[str, Any]]) -> list[str]:
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
