"""``[brake]`` and ``[profile]``: sugar for ordinary ``wrap`` patches.

Both hook the places where a training step ends: mmengine's train loops,
mmcv 1.x runners where present, and, for plain PyTorch loops,
``torch.optim.Optimizer.step``.  The wrappers (in
:mod:`npatch.library.training`) share one step counter per process so a step
seen by both a loop hook and ``Optimizer.step`` is counted once.
"""
from __future__ import annotations

from typing import Any

from npatch.compiler.build import Draft
from npatch.dsl.manifest import Entry, Manifest

#: (op name suffix, target, on-missing) for every step hook
STEP_HOOKS: tuple[tuple[str, str, str], ...] = (
    ("iter-loop", "mmengine.runner.loops:IterBasedTrainLoop.run_iter", "ignore"),
    ("epoch-loop", "mmengine.runner.loops:EpochBasedTrainLoop.run_iter", "ignore"),
    ("mmcv-iter-runner", "mmcv.runner.iter_based_runner:IterBasedRunner.train", "ignore"),
    ("mmcv-epoch-runner", "mmcv.runner.epoch_based_runner:EpochBasedRunner.run_iter", "ignore"),
    ("optimizer", "torch.optim.optimizer:Optimizer._optimizer_step_code", "warn"),
)

#: table -> wrapper factory ``make(original, options)`` in npatch.library.training
WRAPPERS = {
    "brake": "npatch.library.training:brake_wrapper",
    "profile": "npatch.library.training:profile_wrapper",
}


def expand(table: str, manifest: Manifest, entry: Entry) -> list[Draft]:
    data = entry.data
    options: dict[str, Any] = {k: v for k, v in data.items() if k != "when"}
    options["hook"] = ""
    drafts = []
    for suffix, target, on_missing in STEP_HOOKS:
        drafts.append(Draft(
            kind="wrap", name=f"{table}:{suffix}", manifest=manifest, entry_path=entry.path, target_key="",
            targets=[target], source=WRAPPERS[table], source_key="", options={**options, "hook": suffix},
            on_missing=on_missing, priority=1000 + (table == "brake"), when=entry.conditions.get("when"), when_text=data.get("when"),
        ))
    return drafts
