"""``make bench-speed``: how fast the pipelines train, decode and serve, as ratios measured side
by side.

Each section is a module ``benchmarks/speed_<name>.py`` with ``measure(quick: bool) -> dict``:

- ``cells``: the recurrent cells (ours, plain and layer-norm) against ``keras.layers.LSTM``/``GRU``;
- ``loop``: the training loop's overhead over a bare ``fit`` of the same model;
- ``loop_benchmark``: the same on every task's benchmark config (full or cut epochs);
- ``beam``: beam search against greedy decoding, throughput by batch size;
- ``precision``: a train step under bfloat16 and float16 against float32;
- ``serving``: p50/p99 latency of one request to every signature of every task's SavedModel;
- ``exports``: the ONNX and TFLite exports' sizes and one-request p50 against the SavedModel;
- ``throughput``: examples/s, CPU utilisation (cores busy) and peak RSS of every benchmark
  config's training;
- ``server``: the HTTP server (``python -m pipelines serve``) under 8 concurrent clients:
  p50/p99 latency, requests/s and errors per model;
- ``workers``: examples/s of one JAX process against two data-parallel ones (``--workers 2``);
- ``backends``: every task's benchmark model's train step on the JAX backend against the
  TensorFlow backend (``train.backend``), each backend in a process of its own.

``python -m benchmarks.speed [--only a,b] [--tasks t,u] [--quick] [--out F]`` runs them, each in
a process of its own (a fresh TensorFlow: no precision policy, thread pool or peak RSS carried
over from another section), prints a table and writes ``benchmarks/results/speed.json`` (the
sections run replace their earlier figures; the others are kept). ``--tasks`` reruns some tasks
of a section that measures task by task (``loop``, ``loop_benchmark``): its other tasks keep
their figures, and each task names the run that measured it (``measured``). A section's
module that does not exist yet is recorded as not available. ``--quick`` runs are samples
(smaller shapes, fewer repeats, the sample configs): they write to ``speed.json`` in a temporary
directory unless ``--out`` says where. ``--table`` prints the README table of the results
file; ``--write-readme`` rewrites its README block (between :data:`START` and :data:`END`).

A section's dict is kept as it is, plus what the harness adds: ``seconds``, ``quick``,
``command``, ``commit``, ``date``, ``machine_load`` (load averages before and after, and how
many cores other processes kept busy meanwhile: ratios from a busy machine are noisier) and
``available``. Two keys of it are read by the harness:

- ``goals``: ``[{"name", "value", "op" ("<=" or ">="), "target", "unit"?}]``; the harness adds
  ``met`` (None when the value is missing);
- ``figures``: ``[{"name", "value", "unit"?}]``, context shown in the table without a goal.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.options import split_names
from benchmarks.provenance import commit
from benchmarks.speed_timing import MachineLoad, progress
from pipelines.spine.atomic import write_json
from pipelines.spine.readme_blocks import read_block, replace_block

ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = ROOT / "benchmarks" / "results" / "speed.json"
README = ROOT / "README.md"
START, END = "<!-- speed:start -->", "<!-- speed:end -->"

# name → what the section measures (the order sections run and are shown in)
SECTIONS: dict[str, str] = {
    "cells": "recurrent cells against keras.layers.LSTM/GRU, train step",
    "loop": "training loop overhead over a bare fit",
    "loop_benchmark": "training loop overhead over a bare fit, benchmark configs",
    "beam": "beam search against greedy decoding",
    "precision": "mixed precision train step against float32",
    "serving": "SavedModel latency, one request",
    "exports": "ONNX/TFLite exports against the SavedModel: sizes, one-request p50",
    "throughput": "benchmark configs: examples/s, cores busy, peak RSS",
    "server": "HTTP server under load: 8 clients, p50/p99, requests/s, errors",
    "reference": "sentiment without the bag against the keras-io BiLSTM recipe, examples/s",
    "pin": "bucketed tasks: epoch time without / with the training-batch pin",
    "workers": "one JAX process against two data-parallel processes (--workers 2), examples/s",
    "backends": "every task's benchmark model: JAX / TensorFlow backend train step",
}
OPS = {"<=": lambda v, t: v <= t, ">=": lambda v, t: v >= t, "<": lambda v, t: v < t}
OPS[">"] = lambda v, t: v > t


say = progress("speed")


# --- goals --------------------------------------------------------------------------------------


def judge(goal: dict[str, Any]) -> bool | None:
    """Whether ``goal`` (``value``, ``op``, ``target``) is met; None when there is no value."""
    value = goal.get("value")
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if goal.get("op") not in OPS:
        raise ValueError(f"goal {goal.get('name')!r}: op must be one of {', '.join(OPS)}")
    return bool(OPS[goal["op"]](value, goal["target"]))


def judged(section: dict[str, Any]) -> dict[str, Any]:
    """``section`` with ``met`` set on each of its goals (a dict of goals becomes a list)."""
    goals = section.get("goals") or []
    if isinstance(goals, dict):  # {"name": {...}} is accepted too
        goals = [{"name": name, **goal} for name, goal in goals.items()]
    return {**section, "goals": [{**g, "met": judge(g)} for g in goals]}


# --- running a section --------------------------------------------------------------------------


def _module_name(name: str) -> str:
    return f"benchmarks.speed_{name}"


def measure_here(name: str, quick: bool, tasks: list[str] | None = None) -> dict[str, Any]:
    """Imports ``benchmarks.speed_<name>`` and runs its ``measure`` (on ``tasks`` only, when
    given); a module that does not exist is ``{"available": False}``, a failure
    ``{"error": ...}`` with the traceback's tail."""
    try:
        module = importlib.import_module(_module_name(name))
    except ModuleNotFoundError as err:
        if err.name != _module_name(name):  # the module exists but its own import failed
            return {"available": True, "error": f"{type(err).__name__}: {err}"}
        return {"available": False, "error": f"not available: no module {_module_name(name)}"}
    try:
        result = module.measure(quick, tasks) if tasks else module.measure(quick)
    except Exception as err:  # recorded: one section's failure must not lose the others
        tail = traceback.format_exc().strip().splitlines()[-6:]
        return {"available": True, "error": f"{type(err).__name__}: {err}", "traceback": tail}
    if not isinstance(result, dict):
        return {"available": True, "error": f"measure returned {type(result).__name__}, not dict"}
    return {"available": True, **result}


def run_section(
    name: str, quick: bool, workdir: Path, tasks: list[str] | None = None
) -> dict[str, Any]:
    """Runs one section (on ``tasks`` only, when given) in a child process and returns its
    dict; the child's stderr (progress lines) passes through."""
    out = workdir / f"{name}.json"
    args = [sys.executable, "-m", "benchmarks.speed", "--section-worker", name, "--out", str(out)]
    if quick:
        args.append("--quick")
    if tasks:
        args += ["--tasks", ",".join(tasks)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=False)
    try:
        return json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"available": True, "error": f"section process exited {done.returncode}, no result"}


def per_task_module(name: str, tasks: list[str]) -> Any:
    """The module of section ``name`` when it can measure some of its tasks alone (it has
    ``TASKS``, ``measure(quick, tasks)`` and ``rebuild(section)``) and knows every one of
    ``tasks``; else a one-line exit."""
    module = importlib.import_module(_module_name(name))
    if not (hasattr(module, "TASKS") and hasattr(module, "rebuild")):
        raise SystemExit(f"error: --tasks: section {name} measures all its tasks at once")
    unknown = [t for t in tasks if t not in module.TASKS]
    if unknown:
        raise SystemExit(
            f"error: --tasks: section {name} has no task {', '.join(unknown)} "
            f"(its tasks: {', '.join(module.TASKS)})"
        )
    return module


RUN_KEYS = ("command", "commit", "date", "machine_load")  # what a task's ``measured`` names


def with_tasks_kept(
    previous: dict[str, Any] | None, section: dict[str, Any], module: Any
) -> dict[str, Any]:
    """``section``, measured on some of its tasks, with the other tasks of ``previous`` (the
    section's earlier record) kept, goals and figures rebuilt from all of them
    (``module.rebuild``). Each task says in ``measured`` which run measured it (its
    command, commit, date and machine load): a kept task keeps its own, or gets its old
    section's."""
    if section.get("error") or "tasks" not in section:
        return section
    previous = previous or {}
    old_tasks = {} if previous.get("error") else previous.get("tasks", {})
    this_run = {key: section.get(key) for key in RUN_KEYS}
    kept = {
        name: {
            **result,
            "measured": result.get("measured") or {k: previous.get(k) for k in RUN_KEYS},
        }
        for name, result in old_tasks.items()
        if name not in section["tasks"]
    }
    fresh = {name: {**result, "measured": this_run} for name, result in section["tasks"].items()}
    every = {**kept, **fresh}
    ordered = {name: every[name] for name in [*module.TASKS, *every] if name in every}
    return judged(module.rebuild({**section, "tasks": ordered}))


# --- the record ---------------------------------------------------------------------------------


def machine() -> str:
    """The machine in words."""
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}"


def merged(
    previous: dict[str, Any] | None, sections: dict[str, dict[str, Any]], command: str
) -> dict[str, Any]:
    """The results record: this run's sections replace those of ``previous`` (each keeps its
    own command, commit and date); a ``goals`` summary over all of them."""
    every = {**(previous or {}).get("sections", {}), **sections}
    ordered = {name: every[name] for name in [*SECTIONS, *sorted(every)] if name in every}
    goals = [
        {"section": name, "name": g["name"], "met": g.get("met")}
        for name, s in ordered.items()
        for g in s.get("goals", [])
    ]
    return {
        "command": command,
        "commit": commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "complete": all(ordered.get(n, {}).get("available") for n in SECTIONS),
        "goals": {
            "total": len(goals),
            "met": sum(g["met"] is True for g in goals),
            "not_met": [f"{g['section']}: {g['name']}" for g in goals if g["met"] is False],
            "unmeasured": [f"{g['section']}: {g['name']}" for g in goals if g["met"] is None],
        },
        "sections": ordered,
    }


def load(path: Path = RESULTS_FILE) -> dict[str, Any] | None:
    """The results record at ``path``, or None when there is none."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


# --- tables -------------------------------------------------------------------------------------


def fmt(value: Any, unit: str = "", digits: int = 3) -> str:
    """A figure for a table: ``digits`` significant digits, its unit after it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        text = f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    else:
        text = str(value)
    if not unit:
        return text
    return f"{text}{unit}" if unit in ("×", "%") else f"{text} {unit}"


def _met(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "not measured"}[met]


def rows(record: dict[str, Any] | None) -> list[tuple[str, str, str, str, str]]:
    """(section, figure, value, goal, met) for every goal and figure of the record."""
    out = []
    for name, s in (record or {}).get("sections", {}).items():
        if not s.get("available", True) or s.get("error"):
            why = "not available yet" if not s.get("available", True) else "failed"
            error = " ".join(str(s.get("error", why)).split())  # one line in a table cell
            out.append((name, error[:80], "—", "", why))
            continue
        for g in s.get("goals", []):
            unit = g.get("unit", "")
            goal = f"{g['op']} {fmt(g['target'], unit)}"
            value = fmt(g.get("value"), unit)
            if g.get("met") is False and value == fmt(g["target"], unit):
                value = fmt(g["value"], unit, 4)  # 1.055 against 1.05: not "1.05 … not met"
            if g.get("interval"):  # the median's distribution-free interval
                i = g["interval"]
                value += f" ({fmt(i['low'])}–{fmt(i['high'])} at {i['confidence']:.0%})"
            out.append((name, g["name"], value, goal, _met(g.get("met"))))
        for f in s.get("figures", []):
            out.append((name, f["name"], fmt(f.get("value"), f.get("unit", "")), "", ""))
    return out


def _load_note(s: dict[str, Any]) -> str:
    load_ = s.get("machine_load") or {}
    other = load_.get("other_cores_busy")
    if other is None:
        return ""
    return "quiet" if load_.get("quiet") else f"shared: others kept {other:.2f} cores busy"


def console_table(record: dict[str, Any]) -> str:
    """A plain table for the terminal."""
    lines = [f"{'section':<11} {'figure':<60} {'value':>18} {'goal':>12}  met"]
    for section, figure, value, goal, met in rows(record):
        lines.append(f"{section:<11} {figure[:60]:<60} {value:>18} {goal:>12}  {met}")
    for name, s in record.get("sections", {}).items():
        note = _load_note(s)
        if note:
            lines.append(f"  {name}: {s.get('seconds', 0):.0f} s, machine {note}")
    return "\n".join(lines)


def table(record: dict[str, Any] | None) -> str:
    """The README table: section | figure | value | goal | met, then where each came from."""
    lines = ["| section | figure | value | goal | |", "|---|---|---|---|---|"]
    lines += [f"| {' | '.join(r)} |" for r in rows(record)]
    if len(lines) == 2:
        lines.append("| (the speed benchmark has not been run yet) | | | | |")
    sections = (record or {}).get("sections", {})
    # run (command, commit, day) → section → the tasks it measured (None: all of them)
    runs: dict[tuple[str, str, str], dict[str, list[str] | None]] = {}
    for name, s in sections.items():
        measured = [
            (t, r["measured"]) for t, r in (s.get("tasks") or {}).items() if "measured" in r
        ]
        if measured:  # tasks measured by several runs (--tasks): each run names its tasks
            for task, m in measured:
                key = (m["command"], m["commit"], m["date"][:10])
                runs.setdefault(key, {}).setdefault(name, []).append(task)
        elif "command" in s:
            runs.setdefault((s["command"], s["commit"], s["date"][:10]), {})[name] = None
    if runs:
        lines.append("")
        for (command, commit_, date), names in runs.items():
            what = ", ".join(n + (f" ({', '.join(t)})" if t else "") for n, t in names.items())
            prefix = f"- {what}: " if len(runs) > 1 else ""
            lines.append(f"{prefix}`{command}` at `{commit_}`, {date}, {record['machine']}.")
        shared = [
            f"{n} ({_load_note(s)})" for n, s in sections.items() if "shared" in _load_note(s)
        ]
        if shared:
            lines.append(f"Measured while other processes used the CPU: {', '.join(shared)}.")
    return "\n".join(lines)


def readme_block(text: str) -> str:
    """The current speed block of the README text."""
    return read_block(text, START, END)


def write_readme(record: dict[str, Any] | None, readme: Path = README) -> None:
    """Rewrites the README's speed block from ``record``."""
    replace_block(readme, START, END, table(record))


# --- command line -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.speed", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma-separated")
    parser.add_argument("--quick", action="store_true", help="a sample: small shapes, few repeats")
    parser.add_argument(
        "--out", type=Path, help=f"results file (default {RESULTS_FILE.relative_to(ROOT)})"
    )
    parser.add_argument(
        "--table", action="store_true", help="print the README table of the results file"
    )
    parser.add_argument("--write-readme", action="store_true", help="rewrite the README block")
    parser.add_argument(
        "--tasks",
        help="only these tasks of the sections run (loop, loop_benchmark), comma-separated; "
        "the sections' other tasks keep their earlier figures",
    )
    parser.add_argument("--section-worker", help=argparse.SUPPRESS)  # one section, in a child
    args = parser.parse_args(argv)
    tasks = [t.strip() for t in (args.tasks or "").split(",") if t.strip()] or None

    if args.section_worker:
        write_json(args.out, measure_here(args.section_worker, args.quick, tasks))
        return 0
    if args.table or args.write_readme:
        record = load(args.out or RESULTS_FILE)
        if args.write_readme:
            try:
                write_readme(record)
            except ValueError:  # str.index: a marker is missing
                raise SystemExit(
                    f"error: {README}: add the lines {START} and {END} where the table goes"
                ) from None
        print(table(record))
        return 0

    only = split_names(args.only, SECTIONS, "only")
    if not only:  # else nothing is measured and no record is written
        raise SystemExit(f"error: --only: name at least one of {', '.join(SECTIONS)}")
    modules = {name: per_task_module(name, tasks) for name in only} if tasks else {}
    given = argv if argv is not None else sys.argv[1:]
    command = "python -m benchmarks.speed" + (f" {' '.join(given)}" if given else "")
    tmp = Path(tempfile.mkdtemp(prefix="speed-"))
    target = args.out or (tmp / "speed.json" if args.quick else RESULTS_FILE)
    previous = None if args.quick and not args.out else load(target)
    sections: dict[str, dict[str, Any]] = {}
    try:
        for name in only:
            say(f"{name}: {SECTIONS[name]}{' (quick)' if args.quick else ''}")
            begun = time.perf_counter()
            with MachineLoad() as load_:
                result = run_section(name, args.quick, tmp, tasks)
            section = judged(result)
            section.update(
                seconds=round(time.perf_counter() - begun, 1),
                quick=args.quick,
                command=command,
                commit=commit(),
                date=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                machine_load=load_.as_dict(),
            )
            if tasks:
                earlier = (previous or {}).get("sections", {}).get(name)
                section = with_tasks_kept(earlier, section, modules[name])
            sections[name] = section
            met = sum(g["met"] is True for g in section["goals"])
            state = section.get("error") or f"{met}/{len(section['goals'])} goals met"
            say(f"{name}: {state} in {section['seconds']:.0f} s ({_load_note(section)})")
            # After every section, not once at the end: a run stopped during a later section
            # keeps the ones it finished (each file written whole, atomically).
            record = merged(previous, sections, command)
            write_json(target, record)
    finally:  # stopped or not: the sections' own files; a quick run's speed.json stays
        for name in only:
            (tmp / f"{name}.json").unlink(missing_ok=True)
        if target.parent != tmp:
            tmp.rmdir()
    print(console_table(record))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
