"""The memorization audit: exposure math, planting canaries, a model that memorized a canary against
one that did not, and a run whose report measures memorization without ever showing a secret."""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path

import click
import pytest

from custom_llm.data import canaries as canary_module
from custom_llm.data.canaries import Canary, make_canaries, plant
from custom_llm.evaluation import memorization
from custom_llm.testing import make_tiny_model, run_domain

CLICK_FILES = sorted(Path(click.__file__).parent.glob("*.py"))


# --- exposure math ------------------------------------------------------------------------------


def test_rank_exposure_spans_zero_to_log2_of_the_candidates():
    assert memorization.rank_exposure(1, 255) == pytest.approx(8.0)  # the most likely of 256
    assert memorization.rank_exposure(256, 255) == pytest.approx(0.0)  # the least likely
    assert memorization.rank_exposure(16, 255) == pytest.approx(4.0)
    assert memorization.rank_of(-5.0, [-1.0, -6.0, -5.0, -9.0]) == 2  # one candidate strictly more likely; ties count for the canary


def test_fitted_exposure_is_minus_log2_of_the_normal_tail():
    rng = random.Random(0)
    candidates = [rng.gauss(-40.0, 2.0) for _ in range(4000)]
    assert memorization.fitted_exposure(-40.0, candidates) == pytest.approx(1.0, abs=0.05)  # half the candidates are likelier
    tail = 0.5 * math.erfc(3 / math.sqrt(2))
    assert memorization.fitted_exposure(-34.0, candidates) == pytest.approx(-math.log2(tail), rel=0.05)  # 3 sd more likely
    assert memorization.fitted_exposure(-60.0, candidates) < 0.01


def test_canaries_are_seeded_distinct_and_planted_at_a_line_boundary():
    first, again, other = make_canaries(42, "key", 6, 5), make_canaries(42, "key", 6, 5), make_canaries(43, "key", 6, 5)
    assert first == again and first != other
    assert [c.copies for c in first] == [1, 2, 4, 5, 1, 2]  # 1, 2, 4, 8 copies, at most one per training document
    assert len({c.prefix for c in first}) == 6 and all(len(c.secret) == canary_module.SECRET_LENGTH for c in first)
    text = "a\nb\nc"
    planted = plant(text, first[0].line, random.Random(1))
    assert first[0].line in planted.split("\n") and planted.replace(first[0].line + "\n", "").replace("\n" + first[0].line, "") == text
    assert memorization.candidate_secrets(42, first[0], 50) == memorization.candidate_secrets(42, first[0], 50)
    assert first[0].secret not in memorization.candidate_secrets(42, first[0], 50)


# --- a model that memorized a canary ------------------------------------------------------------


def _trained_on(model, tokenizer, texts, steps: int):
    import torch

    torch.manual_seed(0)
    batch = [torch.tensor([[tokenizer.eos_token_id, *tokenizer(t, add_special_tokens=False)["input_ids"]]]) for t in texts]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for step in range(steps):
        ids = batch[step % len(batch)]
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model.eval()


def test_a_memorized_canary_is_exposed_and_an_unseen_one_is_not(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    corpus = [p.read_text() for p in CLICK_FILES[:6]]
    folder = make_tiny_model(tmp_path / "tiny", corpus)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    planted, unseen = make_canaries(7, "test", 2, 10)
    documents = [plant(text[:300], planted.line, random.Random(i)) for i, text in enumerate(corpus[:4])]
    trained = _trained_on(AutoModelForCausalLM.from_pretrained(folder), tokenizer, documents, steps=120)
    untrained = AutoModelForCausalLM.from_pretrained(folder).eval()

    audit = {
        name: memorization.canary_audit(model, tokenizer, [planted, unseen], seed=7)
        for name, model in (("trained", trained), ("untrained", untrained))
    }
    memorized, never_seen = audit["trained"]
    print(f"\ntrained: planted canary {memorized}\nunplanted {never_seen}\nuntrained: {audit['untrained']}")
    assert memorized["rank"] == 1 and memorized["exposure_bits"] == pytest.approx(8.0) and memorized["greedy_exact"]
    assert memorized["fitted_exposure_bits"] > 10  # far past the sampled candidates
    assert memorized["p_value"] < 0.05
    # the same model, a canary of the same shape it never saw: an overfit model leans towards its planted secret's
    # characters, so it is not at chance, but far from the planted one's exposure
    assert never_seen["fitted_exposure_bits"] < memorized["fitted_exposure_bits"] / 4 and not never_seen["greedy_exact"]
    assert all(r["p_value"] > 0.05 and not r["greedy_exact"] for r in audit["untrained"])
    assert memorized["greedy_chars"] == memorized["secret_chars"] > audit["untrained"][0]["greedy_chars"]


def test_passages_are_chosen_after_a_prefix_and_scored_per_passage(tmp_path):
    from custom_llm.records import Document

    documents = [Document(p.read_text(), p.name) for p in CLICK_FILES[:5]]
    chosen = memorization.passages(documents, seed=1, side="train")
    assert chosen and all(len(text) <= 3 * memorization.PASSAGE_CHARS for text, _ in chosen)  # 5 documents: 3 shares of 12 each
    (one,) = memorization.passages(documents[:1], seed=1, side="eval")  # one held-out document: as many cases as twelve would give
    assert len(one[1]) == memorization.PASSAGE_DOCUMENTS * memorization.PASSAGES_PER_DOCUMENT
    for text, spans in chosen:
        for start, end in spans:
            assert start >= memorization.PREFIX_CHARS and end - start == memorization.TARGET_CHARS and text[start - 1] == "\n"
    assert memorization.passages(documents, seed=1, side="train") == chosen


# --- a run ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def canary_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("memorization")
    corpus = root / "corpus"
    corpus.mkdir()
    for path in CLICK_FILES:
        shutil.copy(path, corpus / f"{path.stem}.txt")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CUSTOM_LLM_CACHE_DIR", str(root / "cache"))
        patch.setenv("CUSTOM_LLM_REGISTRY", str(root / "runs.sqlite3"))
        patch.delenv("CUSTOM_LLM_LOAD_PLUGINS", raising=False)
        report = run_domain("text", [corpus], root / "run")
    return root, report


def test_a_run_reports_memorization_and_keeps_its_canaries_in_the_manifest_only(canary_run):
    root, report = canary_run
    run = root / "run"
    manifest = json.loads((run / "manifest.json").read_text())
    planted = [Canary.from_json(c) for c in manifest["canaries"]]
    assert [c.copies for c in planted] == [1, 2, 4, 8] and all(len(c.documents) == c.copies for c in planted)
    section = report["memorization"]
    assert [c["index"] for c in section["canaries"]] == [0, 1, 2, 3]
    assert [c["trained_copies"] for c in section["canaries"]] == [1, 2, 4, 8]  # the text domain trains on every planted line
    assert {row["passages"] for row in section["passages"]} == {"training_passages", "heldout_passages"} and all(
        r["n"] > 0 for r in section["passages"]
    )
    markdown = (run / "report.md").read_text()
    assert "## Memorization" in markdown and "Memorization: canaries exposed" in markdown
    assert "Memorization:" in (run / "README.md").read_text()
    leaked = []
    for path in run.rglob("*"):
        if path.is_file() and path.name != "manifest.json" and path.suffix not in (".safetensors", ".bin", ".pt", ".png", ".arrow"):
            text = path.read_text(errors="ignore")
            leaked += [path.relative_to(run).as_posix() for c in planted if c.secret in text]
    assert not leaked, f"a canary's secret is written outside manifest.json: {leaked}"
    split = root / "cache" / f"split-{manifest['stage_keys']['split']}" / "train.arrow"
    from custom_llm.data.storage import iter_documents

    assert not any(c.secret in d.text for d in iter_documents(split) for c in planted)  # retrieval, xz and the audit's passages read this


def test_canaries_zero_plants_nothing_and_a_bad_count_is_refused(tmp_path):
    from click.testing import CliRunner

    from custom_llm.cli import main

    config = tmp_path / "c.yaml"
    config.write_text("canaries: 100\n")
    result = CliRunner().invoke(main, ["run", "--config", str(config), "--source", str(tmp_path), "--output", str(tmp_path / "out")])
    assert result.exit_code == 2 and "canaries must be between 0 (none) and 64" in result.output


def test_eval_of_a_run_trained_before_canaries_audits_none(tmp_path):
    from types import SimpleNamespace

    from custom_llm.data.canaries import canaries_of_finished_run

    planted = make_canaries(1, "k", 2, 5)
    run = SimpleNamespace(output=tmp_path, artifacts={"canaries": planted})
    (tmp_path / "manifest.json").write_text(json.dumps({"files": []}))  # a manifest written before canaries existed
    canaries_of_finished_run(run)
    assert run.artifacts["canaries"] == []
    (tmp_path / "manifest.json").write_text(json.dumps({"canaries": [c.to_json() for c in planted]}))
    canaries_of_finished_run(run)
    assert run.artifacts["canaries"] == planted
