"""``[brake]`` and ``[profile]``: sugar for ordinary ``wrap`` patches.

Both hook the places where a training step ends: mmengine's train loops,
mmcv 1.x runners where present, and, for plain PyTorch loops,
``torch.optim.Optimizer.step``.  The wrappers (in
:mod:`npatch.library.training`) share one step counter per process so a step
seen by both a loop hook and ``Optimizer.step`` is counted once.
"""
from __future__ import annotations

from typing import Any

from npatch.compiler.build import Draft, builder, common_keys
from npatch.dsl.manifest import Entry, Manifest

#: (op name suffix, target, on-missing) for every step hook
STEP_HOOKS: tuple[tuple[str, str, str], ...] = (
    ("iter-loop", "mmengine.runner.loops:IterBasedTrainLoop.run_iter", "ignore"),
    ("epoch-loop", "mmengine.runner.loops:EpochBasedTrainLoop.run_iter", "ignore"),
    # mmcv 1.x updates weights in the after_train_iter hook, after run_iter returned
    ("mmcv-runner", "mmcv.runner.base_runner:BaseRunner.call_hook", "ignore"),
    # plain loops: zero_grad opens a step (so a profile window can start at step 1) ...
    ("optimizer-zero-grad", "torch.optim.optimizer:Optimizer.zero_grad", "warn"),
    # ... and the base-class code every optimizer's step() runs closes it
    ("optimizer", "torch.optim.optimizer:Optimizer._optimizer_step_code", "warn"),
)

#: brake wraps outside profile on the same targets (two ops on one target need two priorities)
PRIORITIES = {"profile": 1000, "brake": 1001}

#: table -> wrapper factory ``make(original, options)`` in npatch.library.training
WRAPPERS = {
    "brake": "npatch.library.training:brake_wrapper",
    "profile": "npatch.library.training:profile_wrapper",
}


def expand(table: str, manifest: Manifest, entry: Entry) -> list[Draft]:
    data = entry.data
    from npatch.dsl.model import TABLES

    defaults = {key.name: key.default for key in TABLES[table].keys if key.default is not None}
    options: dict[str, Any] = {**defaults, **{k: v for k, v in data.items() if k != "when"}}
    drafts = []
    for suffix, target, on_missing in STEP_HOOKS:
        drafts.append(Draft(
            kind="wrap", name=f"{table}:{suffix}", target_key="", targets=[target], source=WRAPPERS[table],
            source_key="", options={**options, "hook": suffix}, on_missing=on_missing,
            **{**common_keys(manifest, entry), "priority": PRIORITIES[table]},
        ))
    return drafts


@builder("brake")
def _brake(manifest: Manifest, entry: Entry) -> list[Draft]:
    return expand("brake", manifest, entry)


@builder("profile")
def _profile(manifest: Manifest, entry: Entry) -> list[Draft]:
    return expand("profile", manifest, entry)


__all__ = ["STEP_HOOKS", "PRIORITIES", "WRAPPERS", "expand"]
