"""A domain's checkable examples and reward, written against the public API only (``custom_llm``
and ``custom_llm.testing``): on-policy negatives for DPO and GRPO's reward, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("trl")

from custom_llm import Document, Domain, Example, hookimpl  # noqa: E402
from custom_llm.testing import make_tiny_model, registered_plugin, run_domain  # noqa: E402

QUESTIONS = [(f"How many legs has animal {i}?", f"{2 + (i % 3) * 2} legs") for i in range(24)]


class QuizPlugin:
    """Lines ``question|answer``; every example has one right answer, scored by its start."""

    def __init__(self) -> None:
        self.rewards: list[float] = []

    @hookimpl
    def register_domains(self, register):
        def discover(source: Path) -> list[Path]:
            return sorted(source.glob("*.txt"))

        def ingest(source: Path, files: list[Path]):
            for path in files:
                for number, line in enumerate(path.read_text().splitlines(), start=1):
                    question, answer = line.split("|")
                    yield Document(text=f"{question} {answer}", source=f"{path.name}:{number}", metadata={"q": question, "a": answer})

        def make_examples(document: Document) -> list[Example]:
            return [
                Example(
                    prompt=document.metadata["q"], completion=document.metadata["a"], kind="instruction", metadata={"answer": document.metadata["a"]}
                )
            ]

        def reward(example: Example, completion: str) -> float:
            value = 1.0 if completion.strip().startswith(example.metadata["answer"]) else 0.1 * len(set(completion) & set(example.metadata["answer"]))
            self.rewards.append(value)
            return value

        register(
            Domain(
                name="quiz",
                description="Questions with one right answer.",
                discover=discover,
                ingest=ingest,
                make_examples=make_examples,
                checkable=lambda example: "answer" in example.metadata,
                reward=reward,
            )
        )


@pytest.fixture(scope="module")
def quiz_model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("base") / "tiny", [f"{q} {a}" for q, a in QUESTIONS], vocab_size=300)


@pytest.fixture
def quiz_source(tmp_path):
    folder = tmp_path / "quiz"
    folder.mkdir()
    (folder / "quiz.txt").write_text("\n".join(f"{q}|{a}" for q, a in QUESTIONS) + "\n")
    return folder


def test_on_policy_negatives_are_the_starting_models_wrong_answers(tmp_path, quiz_source, quiz_model):
    with registered_plugin(QuizPlugin(), "quiz-plugin"):
        report = run_domain("quiz", [quiz_source], tmp_path / "dpo", "--recipe", "dpo", "--base-model", str(quiz_model), "--max-steps", "2")
    training = report["training"]
    assert training["supplied_pairs"] == 0 and training["on_policy_pairs"] > 0
    assert training["checkable_asked"] == training["checkable_examples"] == len(QUESTIONS) - report["data"]["eval_documents"]
    assert training["on_policy_pairs"] + training["answered_right"] == training["checkable_asked"]
    pairs = [json.loads(line) for line in (tmp_path / "dpo" / "metrics" / "preference_pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == training["on_policy_pairs"]
    for pair in pairs:
        assert pair["origin"] == "on-policy"
        assert pair["rejected"].strip() != pair["chosen"].strip()
    answers = {a for _, a in QUESTIONS}
    assert all(any(answer in pair["chosen"] for answer in answers) for pair in pairs)
    assert training["weights_moved"]


def test_a_grpo_step_scores_sampled_answers_with_the_domains_reward(tmp_path, quiz_source, quiz_model):
    plugin = QuizPlugin()
    with registered_plugin(plugin, "quiz-plugin"):
        report = run_domain(
            "quiz",
            [quiz_source],
            tmp_path / "grpo",
            "--recipe",
            "grpo",
            "--base-model",
            str(quiz_model),
            "--max-steps",
            "2",
            "--learning-rate",
            "0.01",
        )
    training = report["training"]
    assert training["trainer_class"] == "GRPOTrainer" and training["steps_done"] == 2
    assert training["rewards_scored"] == len(plugin.rewards) == 2 * 4  # two steps, one prompt of four answers each
    assert training["mean_reward"] == pytest.approx(sum(plugin.rewards) / len(plugin.rewards), abs=1e-4)
    assert any("reward" in entry for entry in report["history"])  # TRL logged the reward it trained on
    assert training["weights_moved"]


def test_grpo_on_a_domain_without_a_reward_is_refused_before_any_work(tmp_path, quiz_source):
    output = tmp_path / "run"
    with pytest.raises(AssertionError) as refused:  # run_domain shows the CLI's output when a run fails
        run_domain("text", [quiz_source], output, "--recipe", "grpo")
    assert "error: recipe 'grpo' needs a reward: domain 'text' declares no reward" in str(refused.value)
    assert not output.exists()
