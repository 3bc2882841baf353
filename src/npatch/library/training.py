"""Training-step hooks behind ``[brake]`` and ``[profile]``.

The compiler (``npatch.compiler.sugar.STEP_HOOKS``) expands each table into
ordinary ``wrap`` ops, one per place a training step can be seen, all
pointing at :func:`brake_wrapper` or :func:`profile_wrapper` with the table's
keys as options plus ``hook`` (which place it wraps, so the factory returns
a wrapper of the right shape)::

    [[patch]]   # one per row below, for [brake] and for [profile]
    name = "brake:iter-loop"
    target = "mmengine.runner.loops:IterBasedTrainLoop.run_iter"
    wrap = "npatch.library.training:brake_wrapper"     # or profile_wrapper
    options = { step = 5, hook = "iter-loop" }         # or { path, level, start, steps, hook }
    on-missing = "ignore"
    priority = 1001                                    # profile: 1000 (two ops on one target need two priorities)

The hooks this module understands, and the targets they are meant for:

    hook                 target                                                  on-missing
    iter-loop            mmengine.runner.loops:IterBasedTrainLoop.run_iter       ignore
    epoch-loop           mmengine.runner.loops:EpochBasedTrainLoop.run_iter      ignore
    mmcv-runner          mmcv.runner.base_runner:BaseRunner.call_hook            ignore
    mmcv-iter-runner     mmcv.runner.iter_based_runner:IterBasedRunner.train     ignore
    mmcv-epoch-runner    mmcv.runner.epoch_based_runner:EpochBasedRunner.run_iter  ignore
    optimizer-zero-grad  torch.optim.optimizer:Optimizer.zero_grad               warn
    optimizer            torch.optim.optimizer:Optimizer._optimizer_step_code    warn

Why these targets:

* mmengine: ``run_iter`` is one whole training iteration (forward, backward,
  optimizer update, ``after_train_iter`` hooks) in both loops; the two loops
  do not inherit it from each other, so nothing is counted twice.
* mmcv 1.x: the optimizer update runs in the ``after_train_iter`` *hook*,
  after ``run_iter`` has returned, so ``EpochBasedRunner.run_iter`` is not a
  whole step.  ``BaseRunner.call_hook('before_train_iter')`` /
  ``call_hook('after_train_iter')`` bracket the whole step in both runners
  (``mmcv-runner``); ``IterBasedRunner.train`` is a whole step too, while
  ``mmcv-epoch-runner`` counts a step when ``run_iter(train_mode=True)``
  returns, before that hook: prefer ``mmcv-runner``.
* Plain PyTorch: every optimizer subclass defines its own ``step``, so
  wrapping ``Optimizer.step`` sees nothing; ``Optimizer._optimizer_step_code``
  is the base-class method torch calls after *every* optimizer's step (it
  exists for the profiler, and is not overridden).  A step there ends when
  ``optimizer.step()`` returns and the next one begins at once; the first
  begins at the first ``optimizer.zero_grad()`` (``optimizer-zero-grad``).
  A loop that calls no ``optimizer.zero_grad()`` before its first step
  (``model.zero_grad()``, or zeroing after the step) has no visible start
  for step 1, so a profile window starting there begins at step 2 instead,
  still ``steps`` steps long.

One step counter per process is shared by all wrappers.  Loop-level hooks
win: once a loop hook has been seen, optimizer steps are not counted (an
mmengine iteration calls ``optimizer.step()`` inside ``run_iter``), and
wrappers stacked on one target (a brake and a profile op) report a step
once.  Steps are counted from 1 in this process (a resumed run counts from
its restart).

Brake: after step ``step`` ends, prints ``npatch: brake at step N`` on
stderr (rank 0 only under torchrun) and raises ``SystemExit(0)``, so
``finally`` blocks and ``atexit`` handlers run and the exit status is 0.

Profile: records steps ``start`` .. ``start + steps - 1`` (1-based) into
``path`` with ``tensorboard_trace_handler`` (one ``*.pt.trace.json`` per
process).  Levels as DrivingSDK's patcher: 0 device activity, 1 + CPU
activity and shapes, 2 + Python stacks and memory.  The ``torch_npu``
profiler is used when the program has imported ``torch_npu`` (its levels map
to ``ProfilerLevel.Level0`` for 0, ``Level1`` otherwise, as DrivingSDK
does); otherwise ``torch.profiler``.  A machine without a device has no
device activity to record, so level 0 records CPU activity there.  A window
cut short by the end of the program or by a brake is still written; a
window never reached gets one line on stderr at exit.
"""
from __future__ import annotations

import atexit
import functools
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

def _rank0() -> bool:
    return os.environ.get("RANK", "0") in ("", "0")


class Profile:
    """A profiler window over steps ``start`` .. ``start + steps - 1``."""

    def __init__(self, path: str, level: int = 0, start: int = 1, steps: int = 1) -> None:
        if level not in (0, 1, 2):
            raise ValueError(f"profile level must be 0, 1 or 2, not {level!r}")
        if steps < 1 or start < 1:
            raise ValueError(f"profile start and steps must be at least 1, not start={start!r} steps={steps!r}")
        self.path = str(path)
        self.level = level
        self.start = start
        self.steps = steps
        self.last = start + steps - 1
        self.profiler: Any = None
        self.done = False

    def begin(self, step: int) -> None:
        """Step ``step`` begins: start recording at the window's first step
        (or the first step whose beginning is seen after it)."""
        if step >= self.start and self.profiler is None and not self.done:
            os.makedirs(self.path, exist_ok=True)
            self.profiler = make_profiler(self.path, self.level)
            self.profiler.start()
            self.last = step + self.steps - 1

    def end(self, step: int) -> None:
        if self.profiler is None:
            return
        if step >= self.last:
            self.close()
        else:
            self.profiler.step()

    def close(self) -> None:
        """Stop and write the trace (a window cut short is written as far as it got)."""
        if self.profiler is not None:
            profiler, self.profiler = self.profiler, None
            self.done = True
            profiler.stop()

    def __repr__(self) -> str:
        return f"Profile({self.path!r}, level={self.level}, steps {self.start}..{self.last})"


def make_profiler(path: str, level: int) -> Any:
    """A profiler writing a tensorboard trace into ``path`` at DrivingSDK ``level``."""
    npu = sys.modules.get("torch_npu")
    if npu is not None and hasattr(npu, "profiler"):
        p = npu.profiler
        activities = [p.ProfilerActivity.NPU] + ([p.ProfilerActivity.CPU] if level >= 1 else [])
        config = p._ExperimentalConfig(profiler_level=p.ProfilerLevel.Level0 if level == 0 else p.ProfilerLevel.Level1)
        return p.profile(activities=activities, with_stack=level == 2, record_shapes=level > 0,
                         profile_memory=level == 2, experimental_config=config,
                         on_trace_ready=p.tensorboard_trace_handler(path))
    import torch.profiler as tp

    cpu = tp.ProfilerActivity.CPU
    device = sorted((a for a in tp.supported_activities() if a != cpu), key=str)
    activities = device + [cpu] if level >= 1 or not device else device
    return tp.profile(activities=activities, with_stack=level == 2, record_shapes=level > 0,
                      profile_memory=level == 2, on_trace_ready=tp.tensorboard_trace_handler(path))


class StepTracker:
    """Counts training steps from whichever hooks fire, once per step."""

    def __init__(self) -> None:
        self.count = 0           # steps finished
        self.in_step = False     # a step has begun and not ended
        self.loop_seen = False   # a loop-level hook has fired: ignore optimizer steps
        self.brake: int | None = None
        self.profile: Profile | None = None
        self._atexit = False

    # -- configuration (by the wrapper factories) --------------------------------
    def set_brake(self, step: int) -> None:
        if isinstance(step, bool) or not isinstance(step, int) or step < 1:
            raise ValueError(f"brake step must be a positive integer, not {step!r}")
        self.brake = step

    def set_profile(self, profile: Profile) -> None:
        self.profile = profile
        if not self._atexit:
            self._atexit = True
            atexit.register(self._at_exit)

    # -- events --------------------------------------------------------------
    def begin(self) -> None:
        if self.in_step:
            return
        self.in_step = True
        if self.profile is not None:
            self.profile.begin(self.count + 1)

    def end(self) -> None:
        self.in_step = False
        self.count += 1
        if self.profile is not None:
            self.profile.end(self.count)
        if self.brake is not None and self.count >= self.brake:
            self._stop()

    def loop_begin(self) -> None:
        self.loop_seen = True
        self.begin()

    def optimizer_zero_grad(self) -> None:
        if not self.loop_seen:
            self.begin()

    def optimizer_stepped(self) -> None:
        if self.loop_seen:
            return
        self.end()
        self.begin()

    # -- ending -----------------------------------------------------------------
    def _stop(self) -> None:
        if self.profile is not None:
            self.profile.close()
        if _rank0():
            print(f"npatch: brake at step {self.count}", file=sys.stderr, flush=True)
        if threading.current_thread() is not threading.main_thread():
            sys.stdout.flush()
            os._exit(0)
        raise SystemExit(0)

    def _at_exit(self) -> None:
        profile = self.profile
        if profile is None:
            return
        if profile.profiler is not None:
            profile.close()
        elif not profile.done and _rank0():
            print(f"npatch: profile window (steps {profile.start}..{profile.last}) was not reached; "
                  f"training ran {self.count} step(s)", file=sys.stderr, flush=True)


TRACKER = StepTracker()


# -- wrapper shapes, one per hook ------------------------------------------------------
Shape = Callable[[Callable[..., Any], list[int]], Callable[..., Any]]
SHAPES: dict[str, Shape] = {}


def shape(*hooks: str) -> Callable[[Shape], Shape]:
    def register(make: Shape) -> Shape:
        for hook in hooks:
            SHAPES[hook] = make
        return make

    return register


@shape("iter-loop", "epoch-loop", "mmcv-iter-runner", "")
def _whole_step(original: Callable[..., Any], depth: list[int]) -> Callable[..., Any]:
    """Each outermost call is one whole training step."""

    def step(*args: Any, **kwargs: Any) -> Any:
        if depth[0]:
            return original(*args, **kwargs)
        TRACKER.loop_begin()
        depth[0] += 1
        try:
            result = original(*args, **kwargs)
        finally:
            depth[0] -= 1
        TRACKER.end()
        return result

    return step


@shape("mmcv-epoch-runner")
def _mmcv_run_iter(original: Callable[..., Any], depth: list[int]) -> Callable[..., Any]:
    """``EpochBasedRunner.run_iter(data_batch, train_mode, **kw)``: training calls only."""
    whole = _whole_step(original, depth)

    def run_iter(self: Any, data_batch: Any, train_mode: bool, **kwargs: Any) -> Any:
        if train_mode:
            return whole(self, data_batch, train_mode, **kwargs)
        return original(self, data_batch, train_mode, **kwargs)

    return run_iter


@shape("mmcv-runner")
def _mmcv_call_hook(original: Callable[..., Any], depth: list[int]) -> Callable[..., Any]:
    """``BaseRunner.call_hook(fn_name)``: a step spans ``before_train_iter`` to
    the end of ``after_train_iter`` (where mmcv 1.x updates the weights)."""

    def call_hook(self: Any, fn_name: str, *args: Any, **kwargs: Any) -> Any:
        outermost = not depth[0]
        if outermost and fn_name == "before_train_iter":
            TRACKER.loop_begin()
        depth[0] += 1
        try:
            result = original(self, fn_name, *args, **kwargs)
        finally:
            depth[0] -= 1
        if outermost and fn_name == "after_train_iter":
            TRACKER.end()
        return result

    return call_hook


@shape("optimizer")
def _optimizer_step(original: Callable[..., Any], depth: list[int]) -> Callable[..., Any]:
    """Called after every ``optimizer.step()``: a plain-loop step ends.

    The first parameter is named ``self`` on purpose: torch's Python tracer
    (profile level 2) reads ``self`` from the frame of ``_optimizer_step_code``.
    """

    def _optimizer_step_code(self: Any, *args: Any, **kwargs: Any) -> Any:
        if depth[0]:
            return original(self, *args, **kwargs)
        depth[0] += 1
        try:
            result = original(self, *args, **kwargs)
        finally:
            depth[0] -= 1
        TRACKER.optimizer_stepped()
        return result

    return _optimizer_step_code


@shape("optimizer-zero-grad")
def _optimizer_zero_grad(original: Callable[..., Any], depth: list[int]) -> Callable[..., Any]:
    """``Optimizer.zero_grad``: a plain-loop step begins (if none is under way)."""

    def zero_grad(self: Any, *args: Any, **kwargs: Any) -> Any:
        TRACKER.optimizer_zero_grad()
        return original(self, *args, **kwargs)

    return zero_grad


#: one nesting counter per hook, shared by the brake and profile wrappers of that hook
_DEPTHS: dict[str, list[int]] = {}


def _wrapper(original: Callable[..., Any], hook: str) -> Callable[..., Any]:
    make = SHAPES.get(hook)
    if make is None:
        raise ValueError(f"unknown training hook {hook!r}; known: {', '.join(sorted(h for h in SHAPES if h))}")
    wrapper = make(original, _DEPTHS.setdefault(hook, [0]))
    try:
        functools.update_wrapper(wrapper, original)
    except (AttributeError, TypeError):
        wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    return wrapper


def brake_wrapper(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """``wrap`` factory for ``[brake]``: options ``step`` and ``hook``."""
    TRACKER.set_brake(options["step"])
    return _wrapper(original, str(options.get("hook", "")))


def profile_wrapper(original: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    """``wrap`` factory for ``[profile]``: options ``path``, ``level`` (0), ``start`` (1), ``steps`` (1), ``hook``."""
    TRACKER.set_profile(Profile(options["path"], int(options.get("level", 0)),
                                int(options.get("start", 1)), int(options.get("steps", 1))))
    return _wrapper(original, str(options.get("hook", "")))


__all__ = ["Profile", "make_profiler", "StepTracker", "TRACKER", "Shape", "SHAPES", "shape", "brake_wrapper",
           "profile_wrapper"]
