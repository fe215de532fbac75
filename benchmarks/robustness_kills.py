"""Kill points: ``kill -9`` of a tiny 4-epoch char-LM run's process group during ``train``,
``evaluate`` and ``export``, then the state left behind is judged.

- train, killed in or right after epoch 2, then resumed with ``train --run-dir R``: the run
  must end exactly as an uninterrupted run of the same seed: equal ``history.csv`` and
  ``grad_norms.csv`` (timing columns aside), equal ``checkpoints/best.keras`` weights, and a
  complete ``train_summary.json`` equal to the reference one but for durations.
- evaluate: ``metrics.json`` absent or complete JSON, and evaluate again works and gives the
  reference metrics.
- export: ``saved_model/`` still loads and serves (the previous export or the new one), and
  a second export works and loads.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import robustness_process as proc
from benchmarks.robustness_judge import Verdict, rows_equal, shorten, timing_key
from benchmarks.robustness_report import CaseResult

TASK = "charlm"
TRAIN_SETS = ("train.epochs=4", "data.max_train_chars=24000", "train.early_stopping_patience=0")
TIMEOUT = 600.0
POLL = 0.02  # seconds between looks at a run directory while waiting for a kill point


@dataclass(frozen=True)
class KillPoint:
    """Where to kill: once ``ready(run_dir)`` holds, after ``delay(timings)`` seconds."""

    verb: str
    name: str
    ready: Callable[[Path], bool]
    delay: Callable[[dict[str, float]], float]


def history_rows(run_dir: Path) -> list[dict[str, str]]:
    """The rows of ``history.csv`` (none when it is missing or unreadable)."""
    try:
        with open(run_dir / "history.csv", newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except (OSError, csv.Error):
        return []


def _csv_rows(path: Path) -> list[dict[str, str]] | None:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except (OSError, csv.Error, UnicodeDecodeError):
        return None


def _rows_at_least(count: int) -> Callable[[Path], bool]:
    return lambda run_dir: len(history_rows(run_dir)) >= count


def _exists(name: str) -> Callable[[Path], bool]:
    return lambda run_dir: (run_dir / name).exists()


def _listing(run_dir: Path) -> tuple:
    """What an export changes: the run directory's entries and the SavedModel's files."""
    entries = sorted(p.name for p in run_dir.iterdir()) if run_dir.is_dir() else []
    model = run_dir / "saved_model"
    inside = []
    if model.is_dir():
        for p in sorted(model.rglob("*")):
            with contextlib.suppress(FileNotFoundError):
                inside.append((str(p.relative_to(model)), p.stat().st_mtime_ns))
    return tuple(entries), tuple(inside)


def _changed_from(snapshots: dict[Path, tuple]) -> Callable[[Path], bool]:
    def ready(run_dir: Path) -> bool:
        if run_dir not in snapshots:
            snapshots[run_dir] = _listing(run_dir)
            return False
        return _listing(run_dir) != snapshots[run_dir]

    return ready


def _always(_run_dir: Path) -> bool:
    return True


def kill_points() -> list[KillPoint]:
    """Three per verb (the first of each is the ``--quick`` one): train in the middle, at the
    start and at the end of epoch 2; evaluate and export at time offsets of their own
    duration and at the moment they start writing."""
    snapshots: dict[Path, tuple] = {}
    return [
        KillPoint("train", "middle of epoch 2", _rows_at_least(1), lambda t: 0.5 * t["epoch"]),
        KillPoint("train", "start of epoch 2", _rows_at_least(1), lambda t: 0.0),
        KillPoint("train", "right after epoch 2", _rows_at_least(2), lambda t: 0.0),
        KillPoint("evaluate", "at 60% of its time", _always, lambda t: 0.6 * t["evaluate"]),
        KillPoint("evaluate", "when sample.txt appears", _exists("sample.txt"), lambda t: 0.0),
        KillPoint("evaluate", "at 97% of its time", _always, lambda t: 0.97 * t["evaluate"]),
        KillPoint(
            "export", "when the run directory changes", _changed_from(snapshots), lambda t: 0.0
        ),
        KillPoint("export", "at 80% of its time", _always, lambda t: 0.8 * t["export"]),
        KillPoint("export", "at 95% of its time", _always, lambda t: 0.95 * t["export"]),
    ]


def _train_args(run_dir: Path, fresh: bool) -> list[str]:
    if not fresh:  # resume: the run's own config
        return proc.pipelines_cli("train", TASK, "--run-dir", str(run_dir))
    config = str(proc.ROOT / "configs" / f"{TASK}_tiny.yaml")
    sets = [a for s in TRAIN_SETS for a in ("--set", s)]
    return proc.pipelines_cli("train", TASK, "--config", config, "--run-dir", str(run_dir), *sets)


def _verb_args(verb: str, run_dir: Path) -> list[str]:
    return proc.pipelines_cli(verb, TASK, "--run-dir", str(run_dir))


def kill_at(args: list[str], env: dict[str, str], run_dir: Path, point: KillPoint, timings) -> str:
    """Starts ``args``, kills its group at ``point``; returns what happened ("" when killed).
    A time offset measured on the reference run can fall after the end on a noisy machine:
    then the command is run again with the offset cut by 15%, up to three more times."""
    scale = 1.0
    for _ in range(4):
        early = _kill_once(args, env, run_dir, point, timings, scale)
        if not early or point.delay(timings) == 0.0:
            return early
        scale *= 0.85
    return early


def _kill_once(
    args: list[str], env: dict[str, str], run_dir: Path, point: KillPoint, timings, scale: float
) -> str:
    child = proc.start(args, env)
    deadline = time.perf_counter() + TIMEOUT
    while not point.ready(run_dir):
        if child.poll() is not None or time.perf_counter() > deadline:
            break
        time.sleep(POLL)
    wake = time.perf_counter() + point.delay(timings) * scale
    while child.poll() is None and time.perf_counter() < wake:
        time.sleep(POLL)
    if child.poll() is not None:
        done = proc.collect(child)
        tail = shorten(done.stderr[-300:], 200)
        return f"ended before the kill point (exit {done.returncode}): {tail}"
    proc.kill_group(child)
    proc.collect(child, "killed")
    return ""


# --- comparisons --------------------------------------------------------------------------------


def _json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _without_timing(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` without durations and without what only a resumed run records (where it
    resumed): the rest must equal the uninterrupted run's."""
    return {k: v for k, v in record.items() if not timing_key(k) and "resum" not in k}


def _same_record(path: Path, reference: dict[str, Any]) -> Verdict:
    record = _json(path)
    if record is None:
        return Verdict(False, f"{path.name} missing or not JSON")
    mine, theirs = _without_timing(record), _without_timing(reference)
    differ = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
    if differ:
        shown = "; ".join(
            f"{k}: {shorten(repr(mine.get(k)), 60)} vs {shorten(repr(theirs.get(k)), 60)}"
            for k in differ[:3]
        )
        return Verdict(False, f"{path.name} differs in {', '.join(differ)} ({shown})")
    return Verdict(True, f"{path.name} equal")


def _same_csv(path: Path, reference: Path) -> Verdict:
    mine, theirs = _csv_rows(path), _csv_rows(reference)
    if mine is None or theirs is None:
        return Verdict(False, f"{path.name} missing or unreadable")
    header = list(theirs[0]) if theirs else []
    verdict = rows_equal(mine, theirs, [k for k in header if timing_key(k)])
    return Verdict(verdict.passed, f"{path.name}: {verdict.what}")


def _same_weights(path: Path, reference: Path) -> Verdict:
    import keras
    import numpy as np

    from pipelines.registry import get_task

    get_task(TASK)  # registers the model classes
    try:
        mine = keras.saving.load_model(path, compile=False).get_weights()
    except Exception as err:  # a damaged checkpoint is the finding
        return Verdict(
            False, f"best.keras does not load: {type(err).__name__}: {shorten(str(err), 120)}"
        )
    theirs = keras.saving.load_model(reference, compile=False).get_weights()
    if len(mine) != len(theirs) or not all(
        a.shape == b.shape and np.array_equal(a, b) for a, b in zip(mine, theirs, strict=True)
    ):
        return Verdict(False, "best.keras weights differ from the uninterrupted run's")
    return Verdict(True, "best.keras weights equal")


def _serves(run_dir: Path) -> Verdict:
    """``saved_model/`` loads and ``serving_default`` answers a normal call."""
    import tensorflow as tf

    from benchmarks.robustness_serving import _inputs

    path = run_dir / "saved_model"
    if not path.is_dir():
        return Verdict(False, "saved_model/ missing")
    try:
        loaded = tf.saved_model.load(str(path))
        function = loaded.signatures["serving_default"]
        function(**_inputs(function, {}))
    except Exception as err:  # a broken export is the finding
        return Verdict(
            False, f"saved_model/ does not serve: {type(err).__name__}: {shorten(str(err), 120)}"
        )
    return Verdict(True, "saved_model/ serves")


def _all(*verdicts: Verdict) -> Verdict:
    failed = [v.what for v in verdicts if not v.passed]
    if failed:
        return Verdict(False, "; ".join(failed))
    return Verdict(True, "; ".join(v.what for v in verdicts))


# --- the steps ----------------------------------------------------------------------------------


def reference_run(tmp: Path, env: dict[str, str], say) -> tuple[Path, dict[str, float]]:
    """The uninterrupted run (trained, evaluated, exported) and its timings."""
    run_dir = tmp / "reference"
    child = proc.start(_train_args(run_dir, fresh=True), env)
    appeared: list[float] = []
    while child.poll() is None:
        rows = len(history_rows(run_dir))
        while len(appeared) < rows:
            appeared.append(time.perf_counter())
        if time.perf_counter() - child.started > TIMEOUT:  # type: ignore[attr-defined]
            proc.kill_group(child)
            break
        time.sleep(POLL)
    done = proc.collect(child)
    if done.returncode != 0:
        raise RuntimeError(
            f"reference train failed: {done.killed or shorten(done.stderr[-400:], 300)}"
        )
    gaps = [b - a for a, b in itertools.pairwise(appeared)]
    timings = {"epoch": sorted(gaps)[len(gaps) // 2] if gaps else 1.0}
    for verb in ("evaluate", "export"):
        done = proc.run(_verb_args(verb, run_dir), env, TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError(
                f"reference {verb} failed: {done.killed or shorten(done.stderr[-400:], 300)}"
            )
        timings[verb] = done.seconds
    say(
        "kills: reference run done (epoch {epoch:.1f} s, evaluate {evaluate:.1f} s, "
        "export {export:.1f} s)".format(**timings)
    )
    return run_dir, timings


def _train_case(point: KillPoint, reference: Path, timings, tmp: Path, env) -> tuple[Verdict, dict]:
    run_dir = tmp / f"train_{point.name.replace(' ', '_')}"
    early = kill_at(_train_args(run_dir, fresh=True), env, run_dir, point, timings)
    state = {"history_rows_at_kill": len(history_rows(run_dir))}
    if early:
        return Verdict(False, f"no kill: {early}"), state
    resumed = proc.run(_train_args(run_dir, fresh=False), env, TIMEOUT)
    if resumed.returncode != 0:
        tail = resumed.killed or shorten(resumed.stderr[-300:], 200)
        return Verdict(False, f"resume failed: {tail}"), state
    summary = _json(reference / "train_summary.json") or {}
    resumed = _json(run_dir / "train_summary.json") or {}
    state.update({k: v for k, v in resumed.items() if "resum" in k})
    verdict = _all(
        _same_csv(run_dir / "history.csv", reference / "history.csv"),
        _same_weights(
            run_dir / "checkpoints" / "best.keras", reference / "checkpoints" / "best.keras"
        ),
        _same_record(run_dir / "train_summary.json", summary),
        _same_csv(run_dir / "grad_norms.csv", reference / "grad_norms.csv"),
    )
    return verdict, state


def _copy(reference: Path, target: Path) -> Path:
    shutil.copytree(reference, target, symlinks=True)
    return target


def _evaluate_case(
    point: KillPoint, reference: Path, timings, tmp: Path, env
) -> tuple[Verdict, dict]:
    run_dir = _copy(reference, tmp / f"evaluate_{point.name.replace(' ', '_').replace('%', 'pct')}")
    (run_dir / "sample.txt").unlink(missing_ok=True)
    early = kill_at(_verb_args("evaluate", run_dir), env, run_dir, point, timings)
    metrics = run_dir / "metrics.json"
    state = {
        "metrics_json_at_kill": "absent"
        if not metrics.exists()
        else ("valid" if _json(metrics) else "INVALID")
    }
    if early:
        return Verdict(False, f"no kill: {early}"), state
    left = Verdict(
        state["metrics_json_at_kill"] != "INVALID",
        f"after the kill metrics.json is {state['metrics_json_at_kill']}",
    )
    again = proc.run(_verb_args("evaluate", run_dir), env, TIMEOUT)
    if again.returncode != 0:
        tail = again.killed or shorten(again.stderr[-300:], 200)
        return _all(left, Verdict(False, f"evaluate again failed: {tail}")), state
    reference_metrics = _json(reference / "metrics.json") or {}
    return _all(left, _same_record(metrics, reference_metrics)), state


def _export_case(
    point: KillPoint, reference: Path, timings, tmp: Path, env
) -> tuple[Verdict, dict]:
    run_dir = _copy(reference, tmp / f"export_{point.name.replace(' ', '_').replace('%', 'pct')}")
    before = {p.name for p in run_dir.iterdir()}
    early = kill_at(_verb_args("export", run_dir), env, run_dir, point, timings)
    state = {"entries_after_kill": sorted(p.name for p in run_dir.iterdir())}
    if early:
        return Verdict(False, f"no kill: {early}"), state
    after_kill = _serves(run_dir)
    again = proc.run(_verb_args("export", run_dir), env, TIMEOUT)
    if again.returncode != 0:
        tail = again.killed or shorten(again.stderr[-300:], 200)
        return _all(after_kill, Verdict(False, f"export again failed: {tail}")), state
    leftovers = sorted({p.name for p in run_dir.iterdir()} - before)
    state["leftovers_after_export_again"] = leftovers
    return _all(
        Verdict(after_kill.passed, f"after the kill {after_kill.what}"),
        Verdict(True, "export again works"),
        _serves(run_dir),
    ), state


CASES = {"train": _train_case, "evaluate": _evaluate_case, "export": _export_case}


def run(tmp: Path, quick: bool, say: Callable[[str], None]) -> list[CaseResult]:
    """The reference run, then every kill point (one per verb when ``quick``)."""
    tmp.mkdir(parents=True, exist_ok=True)
    env = proc.child_env(tmp / "runs")
    try:
        reference, timings = reference_run(tmp, env, say)
    except RuntimeError as err:
        return [CaseResult("kills", "reference run", TASK, False, str(err))]
    points = kill_points()
    if quick:
        points = [next(p for p in points if p.verb == verb) for verb in CASES]
    results = []
    for i, point in enumerate(points, start=1):
        started = time.perf_counter()
        verdict, state = CASES[point.verb](point, reference, timings, tmp, env)
        seconds = time.perf_counter() - started
        results.append(
            CaseResult(
                category="kills",
                name=f"{point.verb}: kill -9 {point.name}",
                task=TASK,
                passed=verdict.passed,
                what=verdict.what,
                seconds=round(seconds, 1),
                details={"verb": point.verb, **state},
            )
        )
        mark = "ok  " if verdict.passed else "FAIL"
        where = f"{i}/{len(points)} {mark} {point.verb}: {point.name}"
        say(f"kills {where} ({seconds:.0f} s): {verdict.what}")
    return results
