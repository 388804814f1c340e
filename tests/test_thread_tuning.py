"""Training's thread count chosen by measuring: the decision on given step times, the tuner's
schedule of trials, and a real run's record of the counts it trained at."""

from __future__ import annotations

import pytest

from custom_llm.config import build_config
from custom_llm.errors import ConfigError
from custom_llm.training.thread_tuning import MAX_PERIOD, PERIOD, ThreadTuner, next_threads, trial_gap


def test_switches_when_the_other_count_is_clearly_faster():
    assert next_threads(2, 1, [1.0, 1.1, 0.95, 1.05], 0.3) == 1
    assert next_threads(1, 2, [0.8, 0.82, 0.79], 0.5) == 2


def test_stays_when_the_other_count_is_not_faster_by_the_margin():
    assert next_threads(2, 1, [1.0, 1.0, 1.0], 0.95) == 2  # 5% faster: within the margin
    assert next_threads(2, 1, [1.0, 1.0, 1.0], 1.4) == 2
    assert next_threads(2, 1, [], 0.1) == 2  # nothing to compare with


def test_one_slow_step_at_the_current_count_does_not_make_a_switch():
    # a stall of 5 s among 1 s steps: the mean (1.8 s) would switch to a 1.2 s trial, the median does not
    assert next_threads(2, 1, [1.0, 1.0, 5.0, 1.0, 1.0], 1.2) == 2


def test_a_trial_that_lost_by_much_waits_longer_for_the_next():
    assert trial_gap(1.0, 1.2) == PERIOD  # 20% slower: the usual period keeps trials under 5% of the time
    assert trial_gap(1.0, 7.0) == 120  # 6 steps' extra time, at most 5% of 120 steps
    assert trial_gap(1.0, 100.0) == MAX_PERIOD
    assert trial_gap(1.0, 0.5) == PERIOD


class _State:
    global_step = 0


def _train(tuner: ThreadTuner, seconds_at: dict[int, float], steps: int, monkeypatch) -> list[int]:
    """Drive the tuner through ``steps`` steps on a fake clock where a step at ``n`` threads takes
    ``seconds_at[n]``; returns the count each step ran at."""
    import custom_llm.training.thread_tuning as tuning

    clock = [0.0]
    monkeypatch.setattr(tuning.time, "perf_counter", lambda: clock[0])
    ran = []
    for step in range(1, steps + 1):
        tuner.step_begin()
        ran.append(tuner.running)
        clock[0] += seconds_at[tuner.running]
        tuner.step_end(step)
    tuner.restore()
    return ran


def test_the_tuner_tries_early_follows_the_faster_count_and_restores(monkeypatch):
    import torch

    before = torch.get_num_threads()
    tuner = ThreadTuner(4)
    assert tuner.options == [4, 2, 1]
    ran = _train(tuner, {4: 1.0, 2: 0.6, 1: 0.9}, 40, monkeypatch)
    assert ran[:3] == [4, 4, 2]  # the warm-up step, one timed step, then the first trial
    assert tuner.current == 2 and tuner.switches[0]["from"] == 4 and tuner.switches[0]["to"] == 2
    assert 1 in ran  # the third candidate is tried too
    record = tuner.record()
    assert sum(record["threads_steps"].values()) == 40
    assert record["threads_steps"]["2"] > 30
    assert torch.get_num_threads() == 4  # restored to the count training started with
    torch.set_num_threads(before)


def test_the_tuner_follows_a_change_of_load(monkeypatch):
    import torch

    before = torch.get_num_threads()
    tuner = ThreadTuner(2)
    _train(tuner, {2: 1.0, 1: 1.5}, 20, monkeypatch)
    assert tuner.current == 2 and tuner.switches == []  # idle: all threads win, the trial lost
    _train(tuner, {2: 7.0, 1: 1.0}, 200, monkeypatch)  # another process takes a core
    assert tuner.current == 1
    assert [(s["from"], s["to"]) for s in tuner.switches] == [(2, 1)]
    torch.set_num_threads(before)


def test_training_threads_setting_is_checked():
    assert build_config({}, {}).training_threads == "auto"
    assert build_config({"training_threads": 1}, {}).training_threads == 1
    for bad in (0, -2, "many", 1.5, True):
        with pytest.raises(ConfigError, match="training_threads"):
            build_config({"training_threads": bad}, {})


@pytest.fixture
def two_threads():
    """Two torch threads for one test (the root conftest gives every test one), restored after."""
    import os

    import torch

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core here: there is no other thread count to try")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_a_run_records_the_thread_counts_its_steps_ran_at(tmp_path, text_corpus, two_threads):
    import torch

    from custom_llm.testing import run_domain

    report = run_domain("text", [text_corpus], tmp_path / "run", "--max-steps", "5")
    training = report["training"]
    assert training["threads_candidates"] == [2, 1]
    assert sum(training["threads_steps"].values()) == training["steps_done"] == 5
    assert training["threads_trials"] >= 1
    assert len(training["threads_steps"]) == 2  # a step at the other count: the trial, or the steps after a switch
    assert torch.get_num_threads() == 2  # restored after training


@pytest.mark.slow
def test_a_fixed_training_threads_setting_holds_for_every_step(tmp_path, text_corpus, two_threads):
    from custom_llm.testing import run_domain

    config = tmp_path / "config.yaml"
    config.write_text("training_threads: 1\n", encoding="utf-8")
    report = run_domain("text", [text_corpus], tmp_path / "run", "--max-steps", "3", "--config", str(config))
    training = report["training"]
    assert training["threads_steps"] == {"1": 3} and training["threads_trials"] == 0
