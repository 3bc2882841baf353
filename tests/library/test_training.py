"""The step counter and wrapper shapes behind ``[brake]`` and ``[profile]``,
driven in-process with a fresh tracker and stand-in loop objects."""
from __future__ import annotations

import glob
import json

import pytest
import torch

from npatch.library import training


@pytest.fixture(autouse=True)
def tracker(monkeypatch):
    fresh = training.StepTracker()
    monkeypatch.setattr(training, "TRACKER", fresh)
    monkeypatch.setattr(fresh, "set_profile", lambda profile: setattr(fresh, "profile", profile))  # no atexit
    monkeypatch.setattr(training, "_DEPTHS", {})
    return fresh


def test_brake_stops_after_the_step_with_status_0(capsys, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    calls = []
    run_iter = training.brake_wrapper(lambda self, batch: calls.append(batch), {"step": 3, "hook": "iter-loop"})
    run_iter(None, 1)
    run_iter(None, 2)
    with pytest.raises(SystemExit) as stop:
        run_iter(None, 3)
    assert stop.value.code == 0 and calls == [1, 2, 3]
    assert capsys.readouterr().err == "npatch: brake at step 3\n"


def test_brake_message_only_on_rank_0(capsys, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    step = training.brake_wrapper(lambda self: None, {"step": 1, "hook": "epoch-loop"})
    with pytest.raises(SystemExit):
        step(None)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("bad", [0, -2, "5", True, 1.5])
def test_brake_step_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="positive integer"):
        training.brake_wrapper(lambda: None, {"step": bad, "hook": "iter-loop"})


def test_unknown_hook_is_an_error():
    with pytest.raises(ValueError, match="unknown training hook 'nope'"):
        training.brake_wrapper(lambda: None, {"step": 1, "hook": "nope"})


def test_wrappers_stacked_on_one_target_count_once(tracker):
    inner = training.profile_wrapper(lambda self: None, {"path": "unused", "start": 99, "hook": "iter-loop"})
    outer = training.brake_wrapper(inner, {"step": 50, "hook": "iter-loop"})
    for _ in range(4):
        outer(None)
    assert tracker.count == 4


def test_loop_hooks_win_over_optimizer_steps(tracker):
    step_code = training.brake_wrapper(lambda self: None, {"step": 50, "hook": "optimizer"})
    run_iter = training.brake_wrapper(lambda self: step_code(self), {"step": 50, "hook": "epoch-loop"})
    run_iter(None)  # the optimizer steps inside the loop's step
    assert tracker.count == 1
    step_code(None)  # an optimizer stepped outside (e.g. in a hook) once a loop is known
    assert tracker.count == 1


def test_plain_loop_counts_optimizer_steps(tracker):
    step_code = training.brake_wrapper(lambda self: None, {"step": 50, "hook": "optimizer"})
    zero_grad = training.brake_wrapper(lambda self, set_to_none=True: None, {"step": 50, "hook": "optimizer-zero-grad"})
    for _ in range(3):
        zero_grad(None)
        step_code(None)
    assert tracker.count == 3 and tracker.in_step  # the next step began when the last one ended


class FakeMmcvRunner:
    """mmcv 1.x: the weights change in the ``after_train_iter`` hook."""

    def __init__(self, call_hook):
        self.log = []
        self.call_hook_wrapped = call_hook

    def train_iter(self):
        self.call_hook_wrapped(self, "before_train_iter")
        self.log.append("run_iter")
        self.call_hook_wrapped(self, "after_train_iter")


def test_mmcv_runner_step_spans_the_after_train_iter_hook(tracker):
    seen = []

    def call_hook(self, fn_name):
        seen.append((fn_name, tracker.in_step, tracker.count))

    runner = FakeMmcvRunner(training.brake_wrapper(call_hook, {"step": 9, "hook": "mmcv-runner"}))
    runner.train_iter()
    runner.call_hook_wrapped(runner, "after_val_iter")
    runner.train_iter()
    assert seen == [("before_train_iter", True, 0), ("after_train_iter", True, 0), ("after_val_iter", False, 1),
                    ("before_train_iter", True, 1), ("after_train_iter", True, 1)]
    assert tracker.count == 2


def test_mmcv_epoch_runner_counts_training_iterations_only(tracker):
    run_iter = training.brake_wrapper(lambda self, batch, train_mode, **kw: train_mode,
                                      {"step": 9, "hook": "mmcv-epoch-runner"})
    run_iter(None, {}, True)
    run_iter(None, {}, False)
    run_iter(None, {}, train_mode=True)
    assert tracker.count == 2


def test_wrapper_keeps_the_identity_of_the_original():
    def run_iter(self, data_batch):
        """docs"""

    wrapped = training.brake_wrapper(run_iter, {"step": 9, "hook": "iter-loop"})
    assert wrapped.__name__ == "run_iter" and wrapped.__doc__ == "docs" and wrapped.__wrapped__ is run_iter


def test_profile_window_records_its_steps(tmp_path, tracker):
    model = torch.nn.Linear(4, 1)

    def run_iter(self, i):
        with torch.profiler.record_function(f"user_step_{i}"):
            model(torch.ones(2, 4)).sum().backward()

    step = training.profile_wrapper(run_iter, {"path": str(tmp_path), "level": 1, "start": 2, "steps": 2,
                                               "hook": "iter-loop"})
    for i in range(1, 6):
        step(None, i)
    assert tracker.profile.done and tracker.profile.profiler is None
    [trace] = glob.glob(str(tmp_path / "*.pt.trace.json"))
    names = {event.get("name") for event in json.load(open(trace))["traceEvents"]}
    assert {"user_step_2", "user_step_3"} <= names
    assert not names & {"user_step_1", "user_step_4", "user_step_5"}


def test_profile_window_cut_short_by_the_brake_is_written(tmp_path, tracker):
    profiled = training.profile_wrapper(lambda self: None, {"path": str(tmp_path), "start": 2, "steps": 10,
                                                            "hook": "iter-loop"})
    step = training.brake_wrapper(profiled, {"step": 3, "hook": "iter-loop"})
    step(None)
    step(None)
    with pytest.raises(SystemExit):
        step(None)
    assert len(glob.glob(str(tmp_path / "*.pt.trace.json"))) == 1


def test_profile_without_a_visible_first_step_starts_at_the_next(tracker, tmp_path):
    step_code = training.profile_wrapper(lambda self: None, {"path": str(tmp_path), "start": 1, "steps": 1,
                                                             "hook": "optimizer"})
    step_code(None)  # step 1 ended; its beginning was never seen
    assert tracker.profile.profiler is not None and tracker.profile.last == 2
    step_code(None)
    assert tracker.profile.done


@pytest.mark.parametrize("options, match", [
    ({"path": "p", "level": 3}, "level must be 0, 1 or 2"),
    ({"path": "p", "start": 0}, "at least 1"),
    ({"path": "p", "steps": 0}, "at least 1"),
])
def test_profile_options_are_checked(options, match):
    with pytest.raises(ValueError, match=match):
        training.profile_wrapper(lambda: None, {**options, "hook": "iter-loop"})


def test_unreached_window_is_reported_at_exit(tracker, capsys, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    training.profile_wrapper(lambda self: None, {"path": "unused", "start": 7, "steps": 2, "hook": "iter-loop"})
    tracker._at_exit()
    assert "profile window (steps 7..8) was not reached; training ran 0 step(s)" in capsys.readouterr().err


@pytest.mark.parametrize("level, with_stack", [(0, False), (1, False), (2, True)])
def test_levels(level, with_stack):
    profiler = training.make_profiler("unused", level)
    assert profiler.with_stack is with_stack and profiler.record_shapes is (level > 0)
    assert torch.profiler.ProfilerActivity.CPU in profiler.activities  # no device here: CPU even at level 0
