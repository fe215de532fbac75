"""Speed section ``pin``: what pinning the model to the training batch size gains.

Length-bucketed streams end every bucket in a partial batch, so TensorFlow traces ``fit``'s
step for a batch of unknown size; the runner pins the model to ``train.batch_size``
(``models.rnn_stack.pin_training_batch``), which pads such a batch to that static size at the
model's inputs (and inside every ``RNNStack`` of a model of another kind). Per task whose
data is bucketed (sample configs), two arms take turns on the stream ``runner._prepare``
makes: ``pinned`` and ``unpinned``, twins of its model with the same config and seed, compiled
the same way (``speed_loop.compiled_twin``), one pinned as the runner pins
(``train.batch_size``, one replica), each a ``fit`` of one epoch: two twins, so that the pin
is the only difference (one side test had the runner's model 8% faster than a twin on ner; a
repeat with three arms found runner and twins within 1%). The figure is the median over
rounds of the unpinned epoch's time over the pinned one's (above 1: the pin is faster).
Figures only, no goal.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.speed_loop import compiled_twin
from benchmarks.speed_timing import MachineLoad, compare, paired, progress

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("sentiment", "ner", "pos", "translation")  # the tasks whose batches are bucketed
QUICK_TASKS = ("sentiment",)

_say = progress("speed pin")


def measure_task(name: str, rounds: int) -> dict[str, Any]:
    """Pinned and unpinned epochs of task ``name``'s sample config, interleaved."""
    import keras

    from pipelines.registry import get_task
    from pipelines.spine import runner
    from pipelines.spine.config import load_config

    task = get_task(name)
    cfg = load_config(task.config_class, ROOT / task.sample_config, [])
    with tempfile.TemporaryDirectory(prefix="speed-pin-") as tmp:
        with contextlib.redirect_stderr(io.StringIO()):  # the task's progress lines
            _, prepared, steps = runner._prepare(task, cfg, Path(tmp))
        pinned = compiled_twin(task, cfg, prepared.info, steps, pin=cfg.train.batch_size)
        unpinned = compiled_twin(task, cfg, prepared.info, steps)
        data = prepared.train.repeat()
        models = {"pinned": pinned, "unpinned": unpinned}

        def arm(arm_name: str):
            return lambda: models[arm_name].fit(
                data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False
            )

        timing = compare({a: arm(a) for a in models}, repeats=rounds, warmup=1)
        keras.backend.clear_session()
    return {
        "config": task.sample_config,
        "epoch_steps": steps,
        "batch_size": cfg.train.batch_size,
        "speedup": paired(timing["times_s"], "unpinned", "pinned"),
        "timing": timing,
    }


def measure(quick: bool) -> dict[str, Any]:
    """Unpinned / pinned epoch time per task (sample configs)."""
    tasks, rounds = (QUICK_TASKS, 3) if quick else (TASKS, 8)
    results: dict[str, Any] = {}
    with MachineLoad() as load:
        for name in tasks:
            _say(f"{name}: {rounds} rounds of a pinned and an unpinned epoch")
            results[name] = measure_task(name, rounds)
            _say(f"{name}: unpinned / pinned epoch time = {results[name]['speedup']}")
    return {
        "what": "epoch time of each bucketed task's sample config without the training-batch "
        "pin over with it (median of per-round ratios; above 1: the pin is faster)",
        "tasks": results,
        "machine_load": load.as_dict(),
        "figures": [
            {
                "name": f"{name} sample config: unpinned / pinned epoch time",
                "value": result["speedup"],
                "unit": "×",
            }
            for name, result in results.items()
        ],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(measure("--quick" in sys.argv), indent=2))
