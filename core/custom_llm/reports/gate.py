"""The release gate (docs/concepts.md#the-release-gate): conditions on a finished report that a CI
job can block a release on. ``gate:`` in the run config names them; after evaluation each becomes a
check ``{name, passed, detail}`` in report.json's ``gate``, a report.md section and the run registry's
metrics, and ``run`` / ``eval`` exit with status 3 when one fails.

The checks read figures the report already holds (the paired verdicts, the general-ability bits per
byte, the tuned canaries' fitted exposure, the llama.cpp check's interval), so the gate costs no
evaluation of its own. A condition on a part the run did not measure fails, with the reason: a
gate that passes because nothing was measured would let anything through.

Kept free of torch and transformers: config validation imports it before any work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from custom_llm.errors import ConfigError
from custom_llm.suggest import did_you_mean

GATE_EXIT_STATUS = 3
KEYS = ("tuned_beats_base", "general_ability_tolerance", "max_canary_exposure_bits", "artifact_tolerance", "redacted_values_at_base_level")


def check_gate_settings(gate: Mapping[str, Any]) -> None:
    """Refuse unknown keys and bad values before any work, in one line naming the key."""
    for key, value in gate.items():
        if key not in KEYS:
            raise ConfigError(f"gate: unknown condition {key!r}.{did_you_mean(str(key), KEYS)} Conditions: {', '.join(KEYS)}.")
        if key == "tuned_beats_base":
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
                raise ConfigError(f"gate: tuned_beats_base must be a list of metric names (evaluator.metric or metric), got {value!r}.")
            continue
        if key == "redacted_values_at_base_level":
            if not isinstance(value, bool):
                raise ConfigError(f"gate: redacted_values_at_base_level must be true or false, got {value!r}.")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"gate: {key} must be a number, got {value!r}.")
        if key == "max_canary_exposure_bits" and value < 0:
            raise ConfigError(f"gate: max_canary_exposure_bits must be at least 0 bits, got {value}.")
        if key in ("general_ability_tolerance", "artifact_tolerance") and not 0.0 <= value < 1.0:
            raise ConfigError(f"gate: {key} must be a share at least 0 and below 1 (0.02 is 2%), got {value}.")


def check_gate_metrics(gate: Mapping[str, Any], evaluators: Sequence[str]) -> None:
    """Before any work: an ``evaluator.metric`` in ``tuned_beats_base`` must name one of the run's
    evaluators. Metric names are known only once the evaluators have run, so an unknown metric (or a
    bare name) is checked at evaluation, as a failed condition with the reason."""
    for name in gate.get("tuned_beats_base") or []:
        if "." in name and not any(name.startswith(f"{e}.") for e in evaluators):
            evaluator = name.split(".", 1)[0]
            raise ConfigError(
                f"gate: tuned_beats_base {name!r} names evaluator {evaluator!r}, which this run does not run.{did_you_mean(evaluator, evaluators)} "
                f"Its evaluators: {', '.join(evaluators)}."
            )


def evaluate_gate(gate: Mapping[str, Any], report: Mapping[str, Any]) -> dict[str, Any] | None:
    """report.json's ``gate``: every configured condition checked on ``report`` (None without a gate)."""
    if not gate:
        return None
    checks: list[dict[str, Any]] = []
    for name in gate.get("tuned_beats_base") or []:
        checks.append(beats_base_check(name, report.get("comparison") or []))
    if "general_ability_tolerance" in gate:
        checks.append(general_ability_check(float(gate["general_ability_tolerance"]), report.get("general_ability")))
    if "max_canary_exposure_bits" in gate:
        checks.append(canary_check(float(gate["max_canary_exposure_bits"]), report.get("memorization")))
    if gate.get("redacted_values_at_base_level"):
        checks.append(redacted_values_check(report.get("memorization")))
    if "artifact_tolerance" in gate:
        checks.append(artifact_check(float(gate["artifact_tolerance"]), report.get("artifacts"), report.get("artifacts_note")))
    return {"passed": all(c["passed"] for c in checks), "checks": checks}


def _check(name: str, passed: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "passed": passed, "detail": detail}


def find_row(name: str, comparison: Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any] | None, str]:
    """The comparison row ``name`` means (``evaluator.metric``, or a metric one evaluator has), or why none."""
    exact = [r for r in comparison if f"{r['evaluator']}.{r['metric']}" == name]
    if exact:
        return exact[0], ""
    bare = [r for r in comparison if r["metric"] == name]
    if len(bare) == 1:
        return bare[0], ""
    if bare:
        return None, f"{name!r} is ambiguous: name one of {', '.join(sorted(r['evaluator'] + '.' + r['metric'] for r in bare))}"
    known = [f"{r['evaluator']}.{r['metric']}" for r in comparison]
    return None, f"no metric {name!r} in this run's comparison.{did_you_mean(name, known)}"


def _num(value: Any) -> str:
    return "-" if not isinstance(value, (int, float)) else f"{value:.4g}"


def beats_base_check(name: str, comparison: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The tuned model is significantly better than the base on ``name`` (the paired verdict "better")."""
    row, reason = find_row(name, comparison)
    label = f"tuned_beats_base {name}"
    if row is None:
        return _check(label, False, reason)
    verdict = row.get("verdict")
    name = f"{row['evaluator']}.{row['metric']}"
    if verdict is None:
        return _check(label, False, f"{name} has no paired verdict (no per-case values for both models)")
    p = row.get("p_value")
    shown = "" if p is None else (", p < 0.001" if p < 0.001 else f", p = {p:.3g}")
    if verdict == "better" and int(row.get("n") or 0) < 2:  # a bootstrap over one case says nothing about significance
        return _check(label, False, f"{name} is 'better' on {row.get('n') or 0} case(s) only: too few to show significance")
    detail = f"{name} base {_num(row.get('base'))} -> tuned {_num(row.get('tuned'))} on {row.get('n', 0):,} cases: {verdict}{shown}"
    return _check(label, verdict == "better", detail)


def general_ability_check(tolerance: float, section: Mapping[str, Any] | None) -> dict[str, Any]:
    """The tuned model's general-corpus bits per byte at most ``tolerance`` (relative) above the base's."""
    label = "general_ability_tolerance"
    if not section:
        return _check(label, False, "general ability was not measured in this run")
    base, tuned = float(section["base_bits_per_byte"]), float(section["tuned_bits_per_byte"])
    change = tuned / base - 1 if base > 0 else 0.0
    detail = f"bits per byte {base:.4f} -> {tuned:.4f} ({change:+.2%}, at most +{tolerance:.2%}) on {section.get('cases') or 0:,} passages"
    return _check(label, change <= tolerance, detail)


def canary_check(limit: float, section: Mapping[str, Any] | None) -> dict[str, Any]:
    """The tuned model's highest fitted canary exposure at most ``limit`` bits."""
    label = "max_canary_exposure_bits"
    canaries = (section or {}).get("canaries") or []
    if not canaries:
        return _check(label, False, "no canary was audited in this run (canaries: 0 or memorization_audit: false)")
    top = max(float(c["tuned"]["fitted_exposure_bits"]) for c in canaries)
    return _check(label, top <= limit, f"highest tuned exposure (fitted) {top:.2f} bits of {len(canaries)} canaries, at most {limit:g}")


def redacted_values_check(section: Mapping[str, Any] | None) -> dict[str, Any]:
    """The tuned model completes redaction placeholders' original values no more often than the base
    (fails on the paired verdict "worse": significantly more, McNemar's exact test)."""
    label = "redacted_values_at_base_level"
    row = (section or {}).get("redacted_values")
    if not row:
        return _check(label, False, "no redacted value was probed in this run (nothing redacted in training documents, or memorization_audit: false)")
    detail = f"completed base {row['base_count']}/{row['n']} -> tuned {row['tuned_count']}/{row['n']}: {row['verdict']} (p = {row['p_value']:.3g})"
    return _check(label, row["verdict"] != "worse", detail)


def artifact_check(tolerance: float, results: Sequence[Mapping[str, Any]] | None, note: str | None) -> dict[str, Any]:
    """Every GGUF checked through llama.cpp has its bits-per-byte change interval within ``±tolerance``."""
    from custom_llm.evaluation.statistics import equivalence

    label = "artifact_tolerance"
    if not results:
        why = note or "no exported GGUF was checked through llama.cpp (export_formats: [gguf], or custom-llm eval RUN --artifact PATH)"
        return _check(label, False, why.rstrip("."))
    parts, passed = [], True
    for result in results:
        bpb = result["bits_per_byte"]
        low, high = bpb["change_interval"]
        verdict = equivalence((float(low), float(high)), tolerance)
        passed = passed and verdict.startswith("same")
        figure = f"bits per byte {bpb['change']:+.3%} [{low:+.3%}, {high:+.3%}]"
        parts.append(f"{result['artifact']} {figure} on {result.get('tokens', 0):,} tokens: {verdict}")
    return _check(label, passed, "; ".join(parts))


def apply_gate(run: Any, report: dict[str, Any]) -> None:
    """Put the gate's result into ``report`` (before it is written); nothing without ``gate:``."""
    result = evaluate_gate(getattr(run.config, "gate", None) or {}, report)
    if result is None:
        report.pop("gate", None)
    else:
        report["gate"] = result


def failure_line(gate: Mapping[str, Any] | None) -> str | None:
    """The one line a failed gate prints (None when there is no gate or it passed)."""
    if not gate or gate.get("passed"):
        return None
    return "gate failed: " + "; ".join(f"{c['name']}: {c['detail']}" for c in gate["checks"] if not c["passed"])


def gate_lines(gate: Mapping[str, Any] | None) -> list[str]:
    """report.md's section."""
    if not gate:
        return []
    head = "passed" if gate["passed"] else "FAILED"
    lines = ["", f"## Release gate: {head}", "", "| condition | result | detail |", "| --- | --- | --- |"]
    lines += [f"| {c['name']} | {'pass' if c['passed'] else 'FAIL'} | {c['detail'].replace('|', '/')} |" for c in gate["checks"]]
    return lines
