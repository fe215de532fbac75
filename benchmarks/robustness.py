"""``make bench-robustness``: the robustness suite with figures.

Four categories, each a count of cases tried and passed (the goal is all of them):

- ``configs``: bad configs and overrides → one ``error: ...`` line naming the key or file;
- ``data``: bad data files → one ``error: ...`` line naming the file, or handled and reported;
- ``serving``: fuzz inputs to every signature of every task's SavedModel, and to ``predict``
  → bounded (< 1 s) and correct, or a clean rejection;
- ``kills``: ``kill -9`` during train, evaluate and export → recovered with nothing lost.

``python -m benchmarks.robustness [--only configs,data,serving,kills] [--quick]`` runs them
(runs go to a temporary ``RUNS_DIR``, never to ``runs/``), prints a table and writes
``benchmarks/results/robustness.json`` (the categories run replace their earlier counts and
cases; the others are kept). ``--quick`` (sentiment and charlm only, one kill per verb) and
``--tasks`` runs are samples: they write to ``robustness.json`` in their temporary directory
instead (``--out`` chooses the file). ``--table`` prints the README table of the results file;
``--write-readme`` rewrites its README block.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import robustness_report as report
from benchmarks.options import split_names
from pipelines.registry import TASKS
from pipelines.spine.atomic import write_json

CATEGORY_NAMES = tuple(report.CATEGORIES)
QUICK_TASKS = ("sentiment", "charlm")


def say(message: str) -> None:
    """A progress line on stderr."""
    print(f"[robustness {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_category(
    name: str, tmp: Path, tasks: list[str] | None, quick: bool
) -> list[report.CaseResult]:
    """The cases of one category, run under ``tmp/<name>``."""
    folder = tmp / name
    if name == "configs":
        from benchmarks import robustness_configs

        return robustness_configs.run(folder, tasks, say)
    if name == "data":
        from benchmarks import robustness_data

        return robustness_data.run(folder, tasks, say)
    if name == "serving":
        from benchmarks import robustness_serving

        return robustness_serving.run(folder, tasks or sorted(TASKS), say)
    from benchmarks import robustness_kills

    return robustness_kills.run(folder, quick, say)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.robustness", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--only", default=",".join(CATEGORY_NAMES), help="categories to run, comma-separated"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a sample: sentiment and charlm, one kill per verb"
    )
    parser.add_argument("--tasks", help="a sample: only these tasks' cases (comma-separated)")
    parser.add_argument(
        "--out",
        type=Path,
        help=f"results file (default {report.RESULTS_FILE.relative_to(report.ROOT)})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary run directories")
    parser.add_argument(
        "--table", action="store_true", help="print the README table of the results file"
    )
    parser.add_argument("--write-readme", action="store_true", help="rewrite the README block")
    args = parser.parse_args(argv)

    if args.table or args.write_readme:
        record = report.load()
        if args.write_readme:
            try:
                report.write_readme(record)
            except ValueError:  # str.index: a marker is missing
                raise SystemExit(
                    f"error: {report.README}: add the lines {report.START} and {report.END} "
                    "where the table goes"
                ) from None
        print(report.table(record))
        return 0

    only = split_names(args.only, CATEGORY_NAMES, "only")
    tasks = split_names(args.tasks, sorted(TASKS), "tasks") if args.tasks else None
    if args.quick:
        tasks = [t for t in (tasks or QUICK_TASKS) if t in QUICK_TASKS] or list(QUICK_TASKS)
    sample = args.quick or tasks is not None
    command = "python -m benchmarks.robustness" + (
        f" {' '.join(argv or sys.argv[1:])}" if (argv or sys.argv[1:]) else ""
    )

    tmp = Path(tempfile.mkdtemp(prefix="robustness-"))
    os.environ["RUNS_DIR"] = str(tmp / "runs")  # in-process cases too: nothing lands in runs/
    say(f"working in {tmp}")
    started = time.perf_counter()
    categories, cases = {}, []
    try:
        for name in only:
            begun = time.perf_counter()
            found = run_category(name, tmp, tasks, args.quick)
            categories[name] = report.summary(name, found, time.perf_counter() - begun, command)
            cases += found
            c = categories[name]
            counts = f"{c['passed']}/{c['tried']} passed ({c['percent']}%)"
            say(f"{name}: {counts} in {c['seconds']:.0f} s")
        target = args.out or (tmp / "robustness.json" if sample else report.RESULTS_FILE)
        previous = None if sample and not args.out else report.load(target)
        record = report.merged(previous, categories, cases, command, time.perf_counter() - started)
        write_json(target, record)
    finally:
        if not args.keep:  # a sample's robustness.json stays in tmp
            for name in ("runs", *only):
                shutil.rmtree(tmp / name, ignore_errors=True)
            if not sample:
                shutil.rmtree(tmp, ignore_errors=True)
    print(report.console_table(record))
    for case in cases:
        if not case.passed:
            print(f"  FAIL {case.category} {case.task}: {case.name}: {case.what}")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
