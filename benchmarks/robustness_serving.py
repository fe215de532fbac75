"""Serving fuzz: every signature of every task's SavedModel, and ``predict``, fed inputs a
client might send (empty, huge, odd bytes, odd numbers, odd shapes).

A case passes when the call answers within :data:`CALL_LIMIT` seconds (after one warm-up call
with a normal input) with outputs of the right shape and dtype, finite where they should be,
or rejects the input cleanly: ``InvalidArgumentError`` naming a ``serve.*`` limit or the
problem (an input the signature cannot take at all may also be refused with ``ValueError`` /
``TypeError``). ``predict`` runs through the CLI's ``main`` and must print its records or one
``error: ...`` line within :data:`PREDICT_LIMIT` seconds (model loading included).

The calls run in a worker process (``python -m benchmarks.robustness_serving``) that reports
each case as a JSON line; a call that hangs or balloons is killed there and reported, and the
worker restarts after it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import robustness_process as proc
from benchmarks.robustness_judge import Verdict, clean_rejection, final_error, shorten, timely
from benchmarks.robustness_report import CaseResult

CALL_LIMIT = 1.0  # seconds per signature call
PREDICT_LIMIT = 30.0  # seconds per predict (loads the model, traces, then serves)
HANG_SECONDS = 10.0  # a call without an answer after this is killed (the worker restarts)
PREDICT_HANG_SECONDS = 180.0
LOAD_SECONDS = 300.0  # worker start: TensorFlow, the SavedModel, warm-up calls
TRAIN_SETS = ("train.epochs=1", "train.steps_per_epoch=2", "train.validation_steps=1")
MB = 1_000_000

NORMAL_TEXT = "the good man went to London ."
NORMAL_TOKENS = ["John", "lives", "in", "London"]
SCALARS = {"length": 20, "temperature": 0.8, "top_k": 0, "seed": 1}


@dataclass(frozen=True)
class Fuzz:
    """One fuzz input: the name, the value of one input (the others normal), and how its
    answer is judged: ``reject_only`` for inputs the signature cannot take; ``finite``
    whether float outputs must be finite; the words a rejection may name."""

    name: str
    value: Any
    reject_only: bool = False
    finite: bool = True
    words: tuple[str, ...] = ("serve.", "max_")


# --- inputs -------------------------------------------------------------------------------------


def text_fuzz() -> list[Fuzz]:
    """Fuzz for a [batch] string input."""
    words = (NORMAL_TEXT + " ") * (MB // len(NORMAL_TEXT) + 1)
    return [
        Fuzz("empty string", [""]),
        Fuzz("empty batch", [], words=("serve.", "empty")),
        Fuzz("whitespace only", [" \t\n \r  "]),
        Fuzz("1 MB text", [words[:MB]]),
        Fuzz("1 MB single token", ["a" * MB]),
        Fuzz("100k tokens", ["a " * 100_000]),
        Fuzz("1 MB of newlines", ["\n" * MB]),
        Fuzz(
            "unicode, emoji, combining", ["😀👍🏽 naïve ñ 中文 e\u0301\u0301\u0301 \u200b\u202e ok"]
        ),
        Fuzz("invalid UTF-8", [b"\xff\xfe\x80 abc \xc3"]),
        Fuzz("NUL and control characters", ["a\x00b\x01\x1b[31m\x7f c"]),
        Fuzz("batch of 5000 short strings", [f"text {i}" for i in range(5000)]),
        Fuzz("batch mixing empty and 1 MB", ["", "b" * MB, "ok"]),
    ]


def token_fuzz() -> list[Fuzz]:
    """Fuzz for a [batch, words] string input (padding "")."""
    return [
        Fuzz("empty batch (0, 0)", [[]] * 0, words=("serve.", "empty")),
        Fuzz("no words (1, 0)", [[]]),
        Fuzz("one empty token", [[""]]),
        Fuzz("whitespace token", [["  \t"]]),
        Fuzz("100k tokens", [["a"] * 100_000]),
        Fuzz("1 MB single token", [["a" * MB]]),
        Fuzz("20k tokens of 50 chars (1 MB)", [["x" * 50] * 20_000]),
        Fuzz("batch of 5000 rows", [["a", "b", "c"]] * 5000),
        Fuzz("unicode tokens", [["😀👍🏽", "e\u0301\u0301", "中文", "\u200b"]]),
        Fuzz("invalid UTF-8 token", [[b"\xff\xfe\x80", b"ok"]]),
        Fuzz("NUL and control tokens", [["a\x00b", "\x1b[31m", "\x7f"]]),
        Fuzz("padding-only row", [["a", "", ""], ["", "", ""]]),
    ]


def scalar_fuzz(name: str) -> list[Fuzz]:
    """Fuzz for the charlm scalars."""
    if name == "length":
        return [
            Fuzz("length 0", 0),
            Fuzz("length -1", -1),
            Fuzz("length -2^31", -(2**31)),
            Fuzz("length 2^31-1", 2**31 - 1),
            Fuzz("length 10^6", MB),
        ]
    if name == "temperature":
        return [
            Fuzz("temperature 0", 0.0),
            Fuzz("temperature -1", -1.0),
            Fuzz("temperature 1e30", 1e30),
            Fuzz("temperature NaN", math.nan, words=("serve.", "temperature", "nan", "finite")),
            Fuzz("temperature inf", math.inf, words=("serve.", "temperature", "inf", "finite")),
        ]
    if name == "top_k":
        return [Fuzz("top_k -5", -5), Fuzz("top_k 2^31-1", 2**31 - 1), Fuzz("top_k 1", 1)]
    if name == "seed":
        return [Fuzz("seed -1", -1), Fuzz("seed 2^62", 2**62)]
    return []


def window_fuzz(shape: tuple[int, int], normal, at_least: bool = False) -> list[Fuzz]:
    """Fuzz for a [batch, lookback, features] float window (``normal``: a (lookback, features)
    array of typical values). ``at_least``: the signature takes any number of rows from
    ``lookback`` on (forecast_rows), so one row short must fail, not one row more."""
    import numpy as np

    lookback, features = shape
    non_finite = ("serve.", "nan", "inf", "finite")

    def with_value(value: float, where: str = "one") -> Any:
        window = np.array(normal, dtype=np.float32)[None].copy()
        if where == "one":
            window[0, lookback // 2, 0] = value
        else:
            window[:] = value
        return window

    return [
        Fuzz("one NaN", with_value(np.nan), finite=False, words=non_finite),
        Fuzz("all NaN", with_value(np.nan, "all"), finite=False, words=non_finite),
        Fuzz("one +inf", with_value(np.inf), finite=False, words=non_finite),
        Fuzz("one -inf", with_value(-np.inf), finite=False, words=non_finite),
        Fuzz("all 1e38", with_value(1e38, "all"), words=(*non_finite, "range")),
        Fuzz("all -1e38", with_value(-1e38, "all"), words=(*non_finite, "range")),
        Fuzz("all zeros", with_value(0.0, "all")),
        Fuzz(
            "empty batch", np.zeros((0, lookback, features), np.float32), words=("serve.", "empty")
        ),
        Fuzz("batch of 5000", np.repeat(np.array(normal, np.float32)[None], 5000, axis=0)),
        Fuzz(
            "one row short",
            np.zeros((1, lookback - 1, features), np.float32),
            reject_only=True,
            words=("need at least",),
        )
        if at_least
        else Fuzz(
            "lookback + 1",
            np.zeros((1, lookback + 1, features), np.float32),
            reject_only=True,
            words=("shape",),
        ),
        Fuzz(
            "one feature short",
            np.zeros((1, lookback, features - 1), np.float32),
            reject_only=True,
            words=("shape",),
        ),
        Fuzz(
            "rank 2",
            np.zeros((lookback, features), np.float32),
            reject_only=True,
            words=("shape", "rank"),
        ),
    ]


# --- the worker ----------------------------------------------------------------------------------


# A signature call of the worker: (signature, the input fuzzed, the fuzz).
Call = tuple[str, str, Fuzz]


def _specs(function) -> dict[str, Any]:
    return dict(function.structured_input_signature[1])


def normal_input(name: str, spec, info: dict[str, Any]) -> Any:
    """A well-formed value for signature input ``name`` (``spec``): what every call sends
    but for the one input a case fuzzes, and what the speed section times."""
    import numpy as np

    rank = spec.shape.rank
    if spec.dtype.name == "string":
        return [NORMAL_TEXT] if rank == 1 else [NORMAL_TOKENS]
    if rank == 0:
        return SCALARS.get(name, 1)
    if rank == 1 and spec.dtype.is_integer:  # one number per row, e.g. sample_rows' offset
        return [0]
    if rank == 3:  # a forecasting window (or forecast_rows' rows) in the CSV's units
        mean = np.array(info["mean"], np.float32)
        std = np.array(info["std"], np.float32)
        rows = info.get("rows_needed", info["lookback"]) if name == "rows" else info["lookback"]
        return (mean + 0.5 * std)[None, None].repeat(rows, axis=1)
    raise ValueError(f"no normal value for input {name} {spec}")


def serving_info(loaded, info: dict[str, Any]) -> dict[str, Any]:
    """The run's ``info`` plus what the normal inputs need from the export itself:
    ``rows_needed``, forecast_rows' minimum, read from what ``sample_rows`` gives."""
    if "sample_rows" not in loaded.signatures:
        return info
    import tensorflow as tf

    rows = loaded.signatures["sample_rows"](offset=tf.constant([0], tf.int32))["rows"]
    return {**info, "rows_needed": int(rows.shape[1])}


def _fuzz_for(name: str, spec, info: dict[str, Any]) -> list[Fuzz]:
    rank = spec.shape.rank
    if spec.dtype.name == "string":
        return text_fuzz() if rank == 1 else token_fuzz()
    if rank == 0:
        return scalar_fuzz(name)
    if rank == 3:
        # The window's shape from the run's info (the signature may declare [-1, -1, -1]).
        normal = normal_input(name, spec, info)[0]
        return window_fuzz(normal.shape, normal, at_least=name == "rows")
    return []


def signature_calls(loaded, info: dict[str, Any]) -> list[Call]:
    """Every fuzz call of every signature, in a fixed order."""
    calls = []
    for signature in sorted(loaded.signatures):
        for name, spec in sorted(_specs(loaded.signatures[signature]).items()):
            calls += [(signature, name, f) for f in _fuzz_for(name, spec, info)]
    return calls


def _tensor(value: Any, spec):
    import numpy as np
    import tensorflow as tf

    if spec.dtype.name == "string":
        array = np.array(value, dtype=object)
        if array.size == 0:  # [] or [[]]: an empty tensor of the signature's rank
            shape = array.shape if array.ndim == spec.shape.rank else (0,) * spec.shape.rank
            return tf.zeros(shape, tf.string)
        return tf.constant(array, dtype=tf.string)
    return tf.constant(value, dtype=spec.dtype)


def _inputs(function, info: dict[str, Any], fuzzed: str | None = None, value: Any = None):
    specs = _specs(function)
    return {
        name: _tensor(value if name == fuzzed else normal_input(name, spec, info), spec)
        for name, spec in specs.items()
    }


def check_outputs(inputs: dict[str, Any], outputs: dict[str, Any], finite: bool) -> Verdict:
    """Shapes (the batch of the batched input), finite floats, and per-output rules:
    ``probability`` within [0, 1], ``generated`` no longer than ``length``, ``tags`` of a
    token grid a row per sentence and no wider (a sentence past ``serve.max_tokens`` may be
    cut), ``num_tokens`` >= 0."""
    import numpy as np

    batched = [v for v in inputs.values() if v.shape.rank and v.shape.rank >= 1]
    batch = int(batched[0].shape[0]) if batched else None
    for name, tensor in outputs.items():
        value = tensor.numpy()
        if value.ndim and batch is not None and value.shape[0] != batch:
            return Verdict(False, f"{name}: batch {value.shape[0]}, expected {batch}")
        if value.dtype.kind == "f" and finite and not np.all(np.isfinite(value)):
            return Verdict(False, f"{name}: not finite ({np.sum(~np.isfinite(value))} values)")
        if name == "probability" and value.size and not np.all((value >= 0) & (value <= 1)):
            return Verdict(False, "probability outside [0, 1]")
        if name == "num_tokens" and value.size and np.any(value < 0):
            return Verdict(False, "num_tokens < 0")
        if name == "tags" and "tokens" in inputs:  # a row per sentence, cut at most
            grid = tuple(inputs["tokens"].shape)
            if value.ndim != 2 or value.shape[0] != grid[0] or value.shape[1] > grid[1]:
                return Verdict(False, f"tags shape {value.shape} for tokens {grid}")
        if name == "generated" and "length" in inputs:
            length = max(int(inputs["length"].numpy()), 0)
            longest = max((len(s.decode("utf-8", "replace")) for s in value.ravel()), default=0)
            if longest > length:
                return Verdict(False, f"generated {longest} characters > length {length}")
    shapes = ", ".join(f"{k}{list(v.shape)}" for k, v in outputs.items())
    return Verdict(True, shapes)


def _call(function, inputs: dict[str, Any]) -> tuple[dict[str, Any] | None, str, str, float]:
    """(outputs, exception type, message, seconds) of one call."""
    started = time.perf_counter()
    try:
        outputs = function(**inputs)
        return outputs, "", "", time.perf_counter() - started
    except Exception as err:  # judged: the kind and message of the rejection
        return None, type(err).__name__, str(err), time.perf_counter() - started


def judge_call(call: Call, function, info: dict[str, Any]) -> tuple[Verdict, float]:
    """Runs one fuzz call and judges it."""
    _signature, fuzzed, fuzz = call
    try:
        inputs = _inputs(function, info, fuzzed, fuzz.value)
    except (ValueError, TypeError) as err:  # the client cannot even build such a tensor
        return Verdict(fuzz.reject_only, f"input not buildable: {shorten(str(err), 160)}"), 0.0
    outputs, kind, message, seconds = _call(function, inputs)
    if outputs is None:
        return clean_rejection(kind, message, seconds, CALL_LIMIT, fuzz.words), seconds
    if fuzz.reject_only:
        return Verdict(False, "accepted an input the signature should refuse"), seconds
    in_time = timely(seconds, CALL_LIMIT)
    if not in_time.passed:
        return in_time, seconds
    shape = check_outputs(inputs, outputs, fuzz.finite)
    return Verdict(shape.passed, f"{in_time.what}; {shape.what}"), seconds


# --- predict --------------------------------------------------------------------------------------


def predict_cases(task: str, info: dict[str, Any]) -> list[tuple[str, list[str], str]]:
    """(name, extra CLI arguments, standard input) of the predict fuzz of ``task``."""
    extra = ["--length", "20", "--seed", "1"] if task == "charlm" else []
    if task == "forecasting":
        header = "No,year,month,day,hour,pm2.5,DEWP,TEMP,PRES,cbwd,Iws,Is,Ir"
        return [
            ("predict: 1 MB junk line", [], header + "\n" + "x" * MB + "\n"),
            (
                "predict: 1 MB number",
                [],
                header + "\n1,2014,1,1,0,1," + "9" * MB + ",1,1,NW,1,0,0\n",
            ),
            ("predict: empty input", [], ""),
        ]
    return [
        ("predict: 1 MB line", extra, (NORMAL_TEXT + " ") * (MB // 30) + "\n"),
        ("predict: 1 MB single token", extra, "a" * MB + "\n"),
        ("predict: empty line", extra, "\n"),
    ]


def judge_predict(
    code: int | None, stdout: str, stderr: str, seconds: float, blank_input: bool = False
) -> Verdict:
    """Records (JSON lines, finite numbers) or one ``error:`` line, within the limit; for an
    input of blank lines only, no record at all is right too."""
    if code is None:
        return Verdict(False, f"cut off after {seconds:.0f} s")
    if seconds > PREDICT_LIMIT:
        return Verdict(False, f"took {seconds:.1f} s (limit {PREDICT_LIMIT} s)")
    if code != 0:
        verdict = final_error(code, stderr, ())
        return Verdict(verdict.passed, f"{seconds:.1f} s; {verdict.what}")
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        records = [json.loads(line) for line in lines]
    except ValueError:
        return Verdict(False, f"output is not JSON lines: {shorten(stdout, 120)}")
    numbers = [v for r in records for v in r.values() if isinstance(v, float)]
    if not records:
        return Verdict(blank_input, "no record" + ("" if blank_input else " and no error"))
    if not all(math.isfinite(v) for v in numbers):
        return Verdict(False, "a record holds a non-finite number")
    return Verdict(True, f"{seconds:.1f} s; {len(records)} record(s)")


# --- worker entry --------------------------------------------------------------------------------


def _emit(events: Path, record: dict[str, Any]) -> None:
    with open(events, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def worker(task_name: str, run_dir: Path, events: Path, start: int) -> None:
    """Runs the cases of ``task_name`` from index ``start``, one event line each."""
    import tensorflow as tf

    from benchmarks.robustness_data import call_cli

    loaded = tf.saved_model.load(str(run_dir / "saved_model"))
    info = serving_info(loaded, json.loads((run_dir / "info.json").read_text(encoding="utf-8")))
    calls = signature_calls(loaded, info)
    predicts = predict_cases(task_name, info)
    for signature in sorted(loaded.signatures):  # warm-up: one normal call each
        function = loaded.signatures[signature]
        function(**_inputs(function, info))
    _emit(events, {"event": "ready", "total": len(calls) + len(predicts)})
    for index in range(start, len(calls) + len(predicts)):
        if index < len(calls):
            call = calls[index]
            signature, fuzzed, fuzz = call
            name = f"{signature}({fuzzed}): {fuzz.name}"
            _emit(events, {"event": "start", "index": index, "name": name})
            verdict, seconds = judge_call(call, loaded.signatures[signature], info)
            details = {"signature": signature, "input": fuzzed}
        else:
            name, extra, stdin = predicts[index - len(calls)]
            _emit(events, {"event": "start", "index": index, "name": name})
            argv = ["predict", task_name, "--run-dir", str(run_dir), *extra]
            started = time.perf_counter()
            code, stdout, stderr = call_cli(argv, int(PREDICT_HANG_SECONDS), stdin)
            seconds = time.perf_counter() - started
            verdict = judge_predict(
                code, stdout, stderr, seconds, not stdin.strip() and task_name != "forecasting"
            )
            details = {"verb": "predict", "stdin_chars": len(stdin)}
        _emit(
            events,
            {
                "event": "done",
                "index": index,
                "name": name,
                "passed": verdict.passed,
                "what": verdict.what,
                "seconds": round(seconds, 4),
                "details": details,
            },
        )
    _emit(events, {"event": "finished"})


def _read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:  # a line being written
            break
    return events


# --- the parent ----------------------------------------------------------------------------------


def prepare_run(task: str, tmp: Path, say: Callable[[str], None]) -> tuple[Path | None, str]:
    """A tiny trained and exported run of ``task``: (run directory, "") or (None, why not)."""
    run_dir = tmp / "runs" / task
    env = proc.child_env(tmp / "runs")
    config = str(proc.ROOT / "configs" / f"{task}_tiny.yaml")
    sets = [a for s in TRAIN_SETS for a in ("--set", s)]
    steps = [
        proc.pipelines_cli("train", task, "--config", config, "--run-dir", str(run_dir), *sets),
        proc.pipelines_cli("export", task, "--run-dir", str(run_dir)),
    ]
    for args in steps:
        done = proc.run(args, env, timeout=600)
        if done.returncode != 0:
            tail = done.killed or shorten(done.stderr[-400:], 300)
            return None, f"{args[2]} failed: {tail}"
    say(f"serving: {task} trained and exported in {run_dir}")
    return run_dir, ""


def fuzz_task(task: str, run_dir: Path, tmp: Path, say: Callable[[str], None]) -> list[CaseResult]:
    """Every fuzz case of ``task``, restarting the worker after a case it had to be killed in."""
    results: list[CaseResult] = []
    start, total, attempt = 0, None, 0
    env = proc.child_env(tmp / "runs")
    while total is None or start < total:
        attempt += 1
        events_path = tmp / f"events_{task}_{attempt}.jsonl"
        args = [
            "-m",
            "benchmarks.robustness_serving",
            "--task",
            task,
            "--run-dir",
            str(run_dir),
            "--events",
            str(events_path),
            "--start",
            str(start),
        ]
        worker_proc = proc.start(args, env)
        seen, current, since = 0, None, time.perf_counter()
        killed = ""
        while True:
            events = _read_events(events_path)
            for event in events[seen:]:
                if event["event"] == "ready":
                    total = event["total"]
                elif event["event"] == "start":
                    current = event
                elif event["event"] == "done":
                    current = None
                    results.append(_case(task, event))
                    start = event["index"] + 1
                    mark = "ok  " if event["passed"] else "FAIL"
                    say(f"serving {task} {start}/{total} {mark} {event['name']}: {event['what']}")
                since = time.perf_counter()
            seen = len(events)
            if worker_proc.poll() is not None:
                break
            limit = LOAD_SECONDS if current is None and total is None else HANG_SECONDS
            if current is not None and current["name"].startswith("predict"):
                limit = PREDICT_HANG_SECONDS
            if time.perf_counter() - since > limit:
                killed = f"no answer after {limit:.0f} s (killed)"
                proc.kill_group(worker_proc)
                break
            memory = proc.rss_mb(worker_proc.pid)
            if memory > proc.MAX_RSS_MB:
                killed = f"resident memory {memory:.0f} MB > {proc.MAX_RSS_MB} MB (killed)"
                proc.kill_group(worker_proc)
                break
            time.sleep(proc.POLL_SECONDS)
        finished = proc.collect(worker_proc, killed)
        if any(e["event"] == "finished" for e in _read_events(events_path)):
            break
        if current is not None:  # the call it died or was killed in
            tail = shorten(finished.stderr[-300:], 200)
            what = killed or f"worker died (exit {finished.returncode}): {tail}"
            results.append(
                _case(
                    task, {**current, "passed": False, "what": what, "seconds": 0.0, "details": {}}
                )
            )
            say(f"serving {task} {current['index'] + 1}/{total} FAIL {current['name']}: {what}")
            start = current["index"] + 1
            continue
        why = killed or shorten(finished.stderr[-600:], 400)
        results.append(
            CaseResult("serving", "worker start", task, False, f"worker failed: {why}", 0.0, {})
        )
        say(f"serving {task}: worker failed: {why}")
        break
    return results


def _case(task: str, event: dict[str, Any]) -> CaseResult:
    return CaseResult(
        category="serving",
        name=event["name"],
        task=task,
        passed=bool(event["passed"]),
        what=event["what"],
        seconds=event.get("seconds", 0.0),
        details=event.get("details", {}),
    )


def run(tmp: Path, tasks: Sequence[str], say: Callable[[str], None]) -> list[CaseResult]:
    """Trains, exports and fuzzes each of ``tasks``."""
    results = []
    for task in tasks:
        run_dir, why = prepare_run(task, tmp, say)
        if run_dir is None:
            results.append(CaseResult("serving", "tiny run and export", task, False, why))
            say(f"serving {task}: FAIL {why}")
            continue
        results += fuzz_task(task, run_dir, tmp, say)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.robustness_serving")
    parser.add_argument("--task", required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--start", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        worker(args.task, args.run_dir, args.events, args.start)
    except Exception:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
