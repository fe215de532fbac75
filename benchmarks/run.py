"""``make bench-<task>``: train the task's benchmark config (``Task.benchmark``) on the real
data, evaluate on validation and test, and write ``benchmarks/results/<task>.json``. Never
edit those files by hand."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from benchmarks.provenance import commit
from pipelines.registry import TASKS  # no TensorFlow behind it
from pipelines.spine import quiet
from pipelines.spine.atomic import write_json

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run")
    parser.add_argument(
        "name", help=f"a task ({', '.join(sorted(TASKS))}) or a named variant (ner-wnut17)"
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument(quiet.VERBOSE_FLAG, action="store_true", help="TensorFlow's log lines too")
    args = parser.parse_args(argv)
    verbose = args.verbose or quiet.verbose_requested([])
    quiet.configure(verbose)
    quiet.load_tensorflow(verbose)

    from benchmarks.catalog import benchmarks
    from pipelines.registry import get_task
    from pipelines.spine import runner
    from pipelines.spine.config import load_config, to_dict

    known = benchmarks()
    if args.name not in known:
        parser.error(f"no benchmark {args.name!r} (known: {', '.join(known)})")
    task_name, bench = known[args.name]
    task = get_task(task_name)
    cfg = load_config(task.config_class, ROOT / bench.config, [*bench.overrides, *args.overrides])
    started = time.perf_counter()
    run_dir = runner.train(task, cfg)
    validation = runner.evaluate(task, run_dir, "validation")
    test = runner.evaluate(task, run_dir, "test")
    total = time.perf_counter() - started
    summary = json.loads((run_dir / "train_summary.json").read_text())
    # The headline is test, evaluated once; validation picked the checkpoint and is shown beside.
    value = test[bench.metric]
    goals = [
        {
            "goal": goal.describe(),
            "threshold": goal.threshold(test),
            "value": test[goal.metric],
            "met": goal.met(test),
        }
        for goal in bench.goals()
    ]
    met = all(goal["met"] for goal in goals)
    command = "python -m benchmarks.run " + " ".join(
        [args.name, *(f"--set {o}" for o in args.overrides)]
    )
    result = {
        "task": task_name,
        "benchmark": args.name,
        "dataset": bench.dataset,
        "split": "test",
        "metric": bench.metric,
        "value": value,
        "validation_value": validation[bench.metric],
        "goal": bench.goal,
        "higher_is_better": bench.higher_is_better,
        "goal_met": met,
        "goals": goals,
        "baselines": {
            key: {"test": test[key], "validation": validation.get(key)} for key in bench.baselines
        },
        "train_seconds": summary["train_seconds"],
        "total_seconds": round(total, 1),
        "examples_per_second": summary["examples_per_second"],
        "command": command,
        "commit": commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}",
        "run_dir": str(run_dir.relative_to(ROOT)) if run_dir.is_relative_to(ROOT) else str(run_dir),
        "test_metrics": test,
        "validation_metrics": validation,
        "training": {k: v for k, v in summary.items() if k != "history"},
        "history": summary["history"],
        "config": to_dict(cfg),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{args.name}.json"
    write_json(out, result)
    verdict = "meets" if met else "does not meet"
    print(
        f"{args.name}: test {bench.metric} = {value:.4f} (validation "
        f"{validation[bench.metric]:.4f}; {verdict} {'; '.join(g['goal'] for g in goals)}); "
        f"{total / 60:.1f} min; wrote {out.relative_to(ROOT)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
