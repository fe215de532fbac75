"""Speed section ``loop_benchmark``: the training loop's overhead over a bare ``fit`` on every
task's benchmark config (the ``loop`` section does it on the sample configs).

Same arms and timing as :mod:`benchmarks.speed_loop` (``bare`` and ``runner``; the in-step
record is measured there), on ``configs/<task>.yaml`` with the task's benchmark overrides and
the data under ``DATA_ROOT``. A sample config's epoch takes 0.5–15 s, so there the runner's
fixed cost per epoch (checkpoint, resume point, history, TensorBoard) weighs more and the
round-to-round noise (±10%) is as large as the 5% goal; a benchmark config's epoch is the one
a user waits for.

Full epochs, but translation's (~205 s): it is cut to an eighth of its training steps, of its
validation batches and of its validation-BLEU sentences, so that everything in the epoch but the
runner's fixed per-epoch cost shrinks alike: the ratio is then an upper bound on the full
epoch's (that fixed cost weighs more in a shorter epoch). Sentiment's epoch (~95 s) is timed
whole: its checkpoint callback writes a large model (a 512k-row bigram embedding), and a quarter
epoch weighed that fixed cost four times (1.11 at 67c11c2). One warm-up round, then as many
timed rounds as fit in about ``BUDGET_S`` seconds, 3 to 9: the long epochs get three, and
forecasting's 4 s epoch, whose round-to-round swings (3.5–4.3 s for the same bare epoch at
184aafe) are larger than the 5% goal, gets about seven (four at 012d96f, on a machine twice as
slow). Translation gets at least six (:data:`ROUNDS`): three of its cut epochs were as far apart
as the goal. About 80 minutes in all (data preparation included; ~140 minutes on that slower
machine); ``--quick``: forecasting only, one round. ``python -m benchmarks.speed --only
loop_benchmark --tasks translation`` reruns one task and keeps the others' figures.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from benchmarks.speed_loop import measure_task, section
from benchmarks.speed_timing import MachineLoad, progress

TASKS = ("forecasting", "ner", "pos", "charlm", "sentiment", "translation")
QUICK_TASKS = ("forecasting",)
ARMS = ("bare", "runner")
BUDGET_S = 150.0  # timed rounds per task: as many as fit, 3 to 9 (or as ROUNDS says)
# task → (fewest, most) timed rounds, where 3 are too few: translation's eighth of an epoch
# swung 0.986–1.066 round to round at 012d96f (ratio of medians 1.018).
ROUNDS: dict[str, tuple[int, int]] = {"translation": (6, 9)}
# task → (share of an epoch timed, overrides cutting what the epoch's steps do not cut)
CUT: dict[str, tuple[float, tuple[str, ...]]] = {
    # 1000 validation-BLEU sentences in the config, the same share of them
    "translation": (0.125, ("decoding.validation_bleu_examples=125",)),
}


_say = progress("speed loop_benchmark")


def measure(quick: bool, tasks: Sequence[str] | None = None) -> dict[str, Any]:
    """The loop/bare ratio per epoch for each task's benchmark config, or those of ``tasks``
    (goal ≤ 1.05)."""
    from pipelines.registry import get_task

    tasks = tasks or (QUICK_TASKS if quick else TASKS)
    results: dict[str, Any] = {}
    with MachineLoad() as load:
        for name in tasks:
            benchmark = get_task(name).benchmark
            fraction, cut = CUT.get(name, (1.0, ()))
            budget, repeats = (0.0, (1, 1)) if quick else (BUDGET_S, ROUNDS.get(name, (3, 9)))
            _say(f"{name}: bare fit and runner loop, {fraction:.0%} of an epoch")
            results[name] = measure_task(
                name,
                budget,
                repeats,
                config=benchmark.config,
                overrides=[*benchmark.overrides, *cut],
                fraction=fraction,
                arms=ARMS,
            )
            _say(f"{name}: epoch time / bare fit's = {results[name]['ratio']}")
    return rebuild({"what": WHAT, "tasks": results, "machine_load": load.as_dict()})


WHAT = (
    "per-epoch time of the runner's training loop over a bare fit of the same compiled model on "
    "the same data (benchmark configs; translation on a share of each epoch), median of "
    "per-round ratios"
)


def rebuild(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` (this section's, its tasks measured by one run or several) with its goals and
    figures made from its ``tasks``."""
    return section(record, _label)


def _label(name: str, result: dict[str, Any]) -> str:
    share = result["epoch_share"]
    return f"{name} benchmark config" + (f" ({share:.1%} epochs)" if share < 1 else "")


if __name__ == "__main__":
    import json

    print(json.dumps(measure("--quick" in sys.argv), indent=2))
