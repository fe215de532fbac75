"""``make demo``: each pipeline's sample config trained, evaluated, exported and served."""

from __future__ import annotations

import sys
import time

from pipelines.spine import quiet


def selected(names: list[str] | None) -> list[str]:
    """The tasks to demo: those named, else every registered task, in registry order."""
    from pipelines.registry import TASKS, UnknownTaskError

    unknown = [name for name in names or [] if name not in TASKS]
    if unknown:
        raise UnknownTaskError(f"unknown task(s) {unknown} (known tasks: {', '.join(TASKS)})")
    return list(names) if names else list(TASKS)


def main(argv: list[str] | None = None) -> int:
    """Every registered task, or the tasks named in ``argv``, on its ``sample_config``
    (``--verbose`` among them: TensorFlow's own log lines too)."""
    verbose = quiet.verbose_requested(argv or [])
    names = selected([name for name in argv or [] if name != quiet.VERBOSE_FLAG])
    quiet.configure(verbose)
    quiet.load_tensorflow(verbose)
    from pipelines.registry import get_task
    from pipelines.spine import runner
    from pipelines.spine.config import load_config
    from pipelines.spine.run_dir import PROJECT_ROOT
    from pipelines.spine.runner import brief

    rows = []
    for name in names:
        task = get_task(name)
        started = time.perf_counter()
        config = PROJECT_ROOT / task.sample_config
        run_dir = runner.train(task, load_config(task.config_class, config))
        metrics = runner.evaluate(task, run_dir, "test")
        exported = runner.export(task, run_dir)
        rows.append((name, run_dir, metrics, exported, time.perf_counter() - started))
    print("\n=== demo summary (bundled samples; see benchmarks/ for the real datasets) ===")
    for name, run_dir, metrics, exported, seconds in rows:
        scores = [
            f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float) and k != "seconds"
        ][:4]
        print(
            f"{name:12s} {seconds:5.0f} s   test ({metrics['examples']} examples): "
            + ", ".join(scores)
        )
        print(f"{'':12s} run dir   {run_dir}")
        print(f"{'':12s} serving   {brief(exported['inputs'])} -> {brief(exported['outputs'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
