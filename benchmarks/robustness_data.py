"""Bad data files: each tiny ``train`` run (``data.source=files``) pointed at one bad file must
stop with one ``error: ...`` line naming the file, or, where the case says so, succeed and
report what it did to the data (in ``info.json`` and on stderr).

The cases run in this process through ``pipelines.spine.cli.main`` (TensorFlow is imported
once), each under an alarm so a hang is cut off and reported.
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import io
import json
import re
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.robustness_judge import Verdict, final_error, shorten
from benchmarks.robustness_process import ROOT
from benchmarks.robustness_report import CaseResult

SAMPLES = ROOT / "data" / "samples"
CONFIGS = ROOT / "configs"
TIMEOUT = 180  # seconds per case (a case that trains runs one step)
RUN_SETS = ("train.epochs=1", "train.steps_per_epoch=1", "train.validation_steps=1")

# Per task: the data keys of a valid files-source run on the bundled sample files.
GOOD_FILES: dict[str, dict[str, str]] = {
    "sentiment": {
        "data.source": "files",
        "data.files_format": "tsv",
        "data.train_path": str(SAMPLES / "sentiment" / "train.tsv"),
        "data.test_path": str(SAMPLES / "sentiment" / "test.tsv"),
    },
    "ner": {
        "data.source": "files",
        "data.train_path": str(SAMPLES / "ner" / "train.conll.gz"),
        "data.validation_path": str(SAMPLES / "ner" / "dev.conll.gz"),
        "data.test_path": str(SAMPLES / "ner" / "test.conll.gz"),
    },
    "pos": {
        "data.source": "files",
        "data.train_path": str(SAMPLES / "pos" / "train.conllu.gz"),
        "data.validation_path": str(SAMPLES / "pos" / "dev.conllu.gz"),
        "data.test_path": str(SAMPLES / "pos" / "test.conllu.gz"),
    },
    "translation": {
        "data.source": "files",
        "data.train_path": str(SAMPLES / "translation" / "spa-eng.tsv"),
    },
    "charlm": {"data.source": "files", "data.path": str(SAMPLES / "charlm" / "input.txt")},
    "forecasting": {
        "data.source": "files",
        "data.path": str(SAMPLES / "forecasting" / "beijing_pm25_2014.csv.gz"),
    },
}
# The key each task's bad file goes to.
FILE_KEY = {
    "sentiment": "data.train_path",
    "ner": "data.train_path",
    "pos": "data.train_path",
    "translation": "data.train_path",
    "charlm": "data.path",
    "forecasting": "data.path",
}

Check = Callable[[Path, str], Verdict]  # (run directory, stderr) → handled and reported?


@dataclass(frozen=True)
class DataCase:
    """One bad input: the file's bytes (``content``; None with ``kind`` "directory" or
    "missing"), settings beside it, what an error must name beyond the file's name, and
    ``handled``: how a successful run is judged (None: it must fail)."""

    name: str
    task: str
    content: Callable[[], bytes] | None
    suffix: str = ".txt"
    kind: str = "file"  # file | directory | missing
    sets: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    handled: Check | None = None
    error_ok: bool = True  # False: the run must succeed (the data is valid, only odd)


# --- file contents -----------------------------------------------------------------------------


def _sample_bytes(*parts: str) -> bytes:
    data = SAMPLES.joinpath(*parts).read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _lines(*parts: str, limit: int | None = None) -> list[bytes]:
    lines = _sample_bytes(*parts).split(b"\n")
    return lines[:limit] if limit else lines


def _join(lines: Sequence[bytes]) -> bytes:
    return b"\n".join(lines) + (b"" if lines and lines[-1] == b"" else b"\n")


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _truncated_gz(*parts: str) -> Callable[[], bytes]:
    def make() -> bytes:
        whole = _gz(_sample_bytes(*parts))
        return whole[: len(whole) // 2]

    return make


def _edit(parts: tuple[str, ...], edit: Callable[[list[bytes]], list[bytes]], limit=None):
    return lambda: _join(edit(_lines(*parts, limit=limit)))


def _const(data: bytes) -> Callable[[], bytes]:
    return lambda: data


SENTIMENT = ("sentiment", "train.tsv")
NER = ("ner", "train.conll.gz")
POS = ("pos", "train.conllu.gz")
PAIRS = ("translation", "spa-eng.tsv")
TEXT = ("charlm", "input.txt")
SERIES = ("forecasting", "beijing_pm25_2014.csv.gz")
SERIES_ROWS = 3001  # header + 3,000 hours (enough for the tiny windows, quick to read)


def _set_line(index: int, line: bytes) -> Callable[[list[bytes]], list[bytes]]:
    def edit(lines: list[bytes]) -> list[bytes]:
        return [*lines[:index], line, *lines[index + 1 :]]

    return edit


def _insert_line(index: int, line: bytes) -> Callable[[list[bytes]], list[bytes]]:
    return lambda lines: [*lines[:index], line, *lines[index:]]


def _csv_cell(row: int, column: str, value: bytes) -> Callable[[list[bytes]], list[bytes]]:
    """Row ``row`` (1 = first data row) of the CSV with ``column`` set to ``value``."""

    def edit(lines: list[bytes]) -> list[bytes]:
        header = lines[0].split(b",")
        col = header.index(column.encode())
        cells = lines[row].split(b",")
        cells[col] = value
        return [*lines[:row], b",".join(cells), *lines[row + 1 :]]

    return edit


def _csv_cells(rows: range, column: str, value: bytes) -> Callable[[list[bytes]], list[bytes]]:
    def edit(lines: list[bytes]) -> list[bytes]:
        for row in rows:
            lines = _csv_cell(row, column, value)(lines)
        return lines

    return edit


def _swap(a: int, b: int) -> Callable[[list[bytes]], list[bytes]]:
    def edit(lines: list[bytes]) -> list[bytes]:
        lines = list(lines)
        lines[a], lines[b] = lines[b], lines[a]
        return lines

    return edit


def _duplicate_rows(rows: Sequence[int]) -> Callable[[list[bytes]], list[bytes]]:
    def edit(lines: list[bytes]) -> list[bytes]:
        out = []
        for i, line in enumerate(lines):
            out.append(line)
            if i in rows:
                out.append(line)
        return out

    return edit


def _header_rename(old: bytes, new: bytes) -> Callable[[list[bytes]], list[bytes]]:
    return lambda lines: [lines[0].replace(old, new), *lines[1:]]


# --- checks of handled cases -------------------------------------------------------------------


def _info(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / "info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _report(run_dir: Path) -> dict[str, Any]:
    return _info(run_dir).get("load_report", {})


def _skipped_reported(run_dir: Path, stderr: str) -> Verdict:
    skipped = _info(run_dir).get("skipped_lines", 0)
    ok = skipped >= 1 and "skipped" in stderr
    return Verdict(
        ok, f"info.json skipped_lines={skipped}; stderr mentions skipping: {'skipped' in stderr}"
    )


def _duplicates_reported(run_dir: Path, stderr: str) -> Verdict:
    count = _report(run_dir).get("duplicates", 0)
    said = "duplicate" in stderr.lower()
    return Verdict(count >= 1 and said, f"load_report.duplicates={count}; stderr says so: {said}")


def _missing_reported(column: str) -> Check:
    def check(run_dir: Path, stderr: str) -> Verdict:
        missing = _report(run_dir).get("missing_before", {}).get(column, 0)
        said = column in stderr
        return Verdict(
            missing >= 1 and said,
            f"load_report.missing_before[{column}]={missing}; stderr names {column}: {said}",
        )

    return check


def _mentions_any(words: Sequence[str], what: str) -> Check:
    """Handled when info.json or stderr mentions one of ``words`` (``what`` was reported)."""

    def check(run_dir: Path, stderr: str) -> Verdict:
        text = (json.dumps(_info(run_dir)) + "\n" + stderr).lower()
        hits = [w for w in words if w.lower() in text]
        return Verdict(bool(hits), f"{what} reported: {hits or 'no'}")

    return check


def _dropped_reported(run_dir: Path, stderr: str) -> Verdict:
    report = _report(run_dir)
    dropped, gaps = report.get("rows_dropped", 0), report.get("gap_count", 0)
    return Verdict(
        dropped >= 1 and gaps >= 1,
        f"load_report.rows_dropped={dropped}, gap_count={gaps} (the dropped rows leave gaps)",
    )


# --- the cases ----------------------------------------------------------------------------------


def _common(task: str, parts: tuple[str, ...], suffix: str) -> list[DataCase]:
    """The bad files every task meets: truncated gzip, a directory, an empty file, a missing
    file, bytes that are not UTF-8."""
    lines = _lines(*parts, limit=400)
    bad_utf8 = _join([*lines[:3], lines[3] + b" caf\xe9 \xff", *lines[4:]])
    return [
        DataCase("truncated .gz", task, _truncated_gz(*parts), suffix=suffix + ".gz"),
        DataCase("path is a directory", task, None, kind="directory"),
        DataCase("empty file", task, _const(b""), suffix=suffix),
        DataCase("file missing", task, None, kind="missing", suffix=suffix),
        DataCase("not UTF-8 (line 4)", task, _const(bad_utf8), suffix=suffix, mentions=(":4",)),
    ]


def cases() -> list[DataCase]:
    """Every bad data file, across the six tasks."""
    d = DataCase
    s, n, p, t, c, f = "sentiment", "ner", "pos", "translation", "charlm", "forecasting"
    return [
        *_common(s, SENTIMENT, ".tsv"),
        d(
            "line without a tab",
            s,
            _edit(SENTIMENT, _set_line(5, b"no tab"), 300),
            mentions=(":6",),
        ),
        d(
            "label not 0/1",
            s,
            _edit(SENTIMENT, _set_line(5, b"fine\tmaybe"), 300),
            mentions=(":6",),
        ),
        d("blank lines only", s, _const(b"\n\n  \n")),
        d(
            "aclimdb reading a text file",
            s,
            _edit(SENTIMENT, lambda lines: lines, 300),
            sets=("data.files_format=aclimdb",),
        ),
        *_common(n, NER, ".conll"),
        d(
            "bad tag (B_PER)",
            n,
            _edit(NER, _set_line(3, b"the\tB_PER"), 2000),
            ".conll",
            mentions=(":4",),
        ),
        d(
            "column count changes",
            n,
            _edit(NER, _set_line(3, b"the\tDT\tO"), 2000),
            suffix=".conll",
            mentions=(":4",),
        ),
        d("blank lines only", n, _const(b"\n\n\n"), suffix=".conll"),
        d(
            "skip_malformed_lines reports the skipped line",
            n,
            _edit(NER, _set_line(3, b"the\tB_PER"), 2000),
            suffix=".conll",
            sets=("data.skip_malformed_lines=true",),
            handled=_skipped_reported,
            error_ok=False,
        ),
        *_common(p, POS, ".conllu"),
        d(
            "5 columns",
            p,
            _edit(POS, _set_line(5, b"2\t-\t_\tPUNCT\tHYPH"), 3000),
            suffix=".conllu",
            mentions=(":6",),
        ),
        d(
            "ids out of order",
            p,
            _edit(POS, _set_line(5, b"7\t-\t_\tPUNCT\tHYPH\t_\t_\t_\t_\t_"), 3000),
            suffix=".conllu",
            mentions=(":6",),
        ),
        d(
            "empty UPOS",
            p,
            _edit(POS, _set_line(5, b"2\t-\t_\t\tHYPH\t_\t_\t_\t_\t_"), 3000),
            suffix=".conllu",
            mentions=(":6",),
        ),
        d("comments only", p, _const(b"# sent_id = 1\n# text = nothing\n\n"), suffix=".conllu"),
        *_common(t, PAIRS, ".tsv"),
        d(
            "pair without a tab",
            t,
            _edit(PAIRS, _set_line(10, b"Go away."), 2000),
            ".tsv",
            mentions=(":11",),
        ),
        d(
            "empty side",
            t,
            _edit(PAIRS, _set_line(10, b"Go away.\t  "), 2000),
            ".tsv",
            mentions=(":11",),
        ),
        d("one pair", t, _const(b"Go.\tVe.\n"), suffix=".tsv"),
        d(
            "every pair too long",
            t,
            _const(
                b"".join(
                    b"a b c d e f g h i j k l m n %d\tq r s t u v w x y z %d\n" % (i, i)
                    for i in range(400)
                )
            ),
            suffix=".tsv",
        ),
        *_common(c, TEXT, ".txt"),
        d("0 characters after a BOM", c, _const(b"\xef\xbb\xbf"), suffix=".txt"),
        d("1 character", c, _const(b"a"), suffix=".txt"),
        d("10 characters", c, _const(b"abcdefghij"), suffix=".txt"),
        *_common(f, SERIES, ".csv"),
        d("header only", f, _edit(SERIES, lambda lines: lines[:1]), suffix=".csv"),
        d("too few rows", f, _edit(SERIES, lambda lines: lines[:12]), suffix=".csv"),
        d(
            "NaN in TEMP",
            f,
            _edit(SERIES, _csv_cell(100, "TEMP", b"NaN"), SERIES_ROWS),
            suffix=".csv",
            mentions=("TEMP",),
            handled=_missing_reported("TEMP"),
        ),
        d(
            "inf in TEMP",
            f,
            _edit(SERIES, _csv_cell(100, "TEMP", b"inf"), SERIES_ROWS),
            suffix=".csv",
            mentions=("TEMP", ":101"),
        ),
        d(
            "text in TEMP",
            f,
            _edit(SERIES, _csv_cell(100, "TEMP", b"warm"), SERIES_ROWS),
            suffix=".csv",
            mentions=("TEMP", ":101"),
        ),
        d(
            "unsorted timestamps",
            f,
            _edit(SERIES, _swap(100, 200), SERIES_ROWS),
            suffix=".csv",
            handled=_mentions_any(("unsorted", "out of order", "not sorted", "reordered"), "order"),
        ),
        d(
            "duplicate timestamps",
            f,
            _edit(SERIES, _duplicate_rows((100, 101, 102)), SERIES_ROWS),
            suffix=".csv",
            handled=_duplicates_reported,
        ),
        d(
            "1,000 consecutive TEMP missing",
            f,
            _edit(SERIES, _csv_cells(range(500, 1500), "TEMP", b""), SERIES_ROWS),
            suffix=".csv",
            mentions=("TEMP",),
            handled=_mentions_any(("longest", "consecutive"), "the longest run of missing values"),
        ),
        d(
            "target column missing",
            f,
            _edit(SERIES, _header_rename(b",TEMP,", b",TEMPERATURE,"), SERIES_ROWS),
            suffix=".csv",
            mentions=("TEMP",),
        ),
        d(
            "empty year",
            f,
            _edit(SERIES, _csv_cell(100, "year", b""), SERIES_ROWS),
            suffix=".csv",
            mentions=(":101",),
        ),
        d(
            "row with an extra field",
            f,
            _edit(SERIES, lambda lines: _set_line(100, lines[100] + b",1")(lines), SERIES_ROWS),
            suffix=".csv",
            mentions=(":101",),
        ),
        d(
            "not UTF-8 in a category",
            f,
            _edit(SERIES, _csv_cell(100, "cbwd", b"N\xffW"), SERIES_ROWS),
            suffix=".csv",
            mentions=(":101",),
        ),
        d(
            "missing: drop reports the rows and the gaps",
            f,
            _edit(SERIES, lambda lines: lines, SERIES_ROWS),
            suffix=".csv",
            sets=("data.missing=drop",),
            handled=_dropped_reported,
            error_ok=False,
        ),
    ]


# --- running ------------------------------------------------------------------------------------


class _CaseTimeout(BaseException):
    """Raised by the alarm in a case that ran past its time."""


def _alarm(signum, frame):
    raise _CaseTimeout


def _materialise(case: DataCase, folder: Path, index: int) -> Path:
    path = folder / f"{index:02d}_{case.task}{case.suffix}"
    if case.kind == "directory":
        path = folder / f"{index:02d}_{case.task}_dir"
        path.mkdir(parents=True, exist_ok=True)
    elif case.kind == "file":
        path.write_bytes(case.content())
    return path


def _cli_args(case: DataCase, path: Path, run_dir: Path) -> list[str]:
    settings = {**GOOD_FILES[case.task], FILE_KEY[case.task]: str(path)}
    sets = [f"{k}={v}" for k, v in settings.items()] + [*RUN_SETS, *case.sets]
    return [
        "train",
        case.task,
        "--config",
        str(CONFIGS / f"{case.task}_tiny.yaml"),
        "--run-dir",
        str(run_dir),
        *(arg for s in sets for arg in ("--set", s)),
    ]


def call_cli(argv: list[str], timeout: int, stdin: str = "") -> tuple[int | None, str, str]:
    """``pipelines.spine.cli.main(argv)`` in this process, reading ``stdin``: (exit status or
    None when cut off, stdout, stderr with any uncaught exception's traceback appended, as a
    process prints it)."""
    import sys

    from pipelines.spine import cli

    out, err = io.StringIO(), io.StringIO()
    saved_stdin, sys.stdin = sys.stdin, io.StringIO(stdin)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    code: int | None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except _CaseTimeout:
                code = None
                print(f"(cut off after {timeout} s)", file=err)
            except Exception:
                code = 1
                traceback.print_exc(file=err)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        sys.stdin = saved_stdin
    return code, out.getvalue(), err.getvalue()


def _judge(case: DataCase, path: Path, code: int | None, stderr: str, run_dir: Path) -> Verdict:
    if code == 0:
        if case.handled is None:
            return Verdict(False, "accepted silently (exit status 0)")
        check = case.handled(run_dir, stderr)
        return Verdict(check.passed, f"handled: {check.what}")
    if not case.error_ok:
        return Verdict(False, f"expected to succeed: {final_error(code, stderr, ()).what}")
    return final_error(code, stderr, (path.name, *case.mentions))


def _reset_keras() -> None:
    import sys

    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()
    gc.collect()


def run(tmp: Path, tasks: Sequence[str] | None, say: Callable[[str], None]) -> list[CaseResult]:
    """Runs every case (of ``tasks``) through the CLI in this process."""
    folder = tmp / "files"
    folder.mkdir(parents=True, exist_ok=True)
    selected = [case for case in cases() if tasks is None or case.task in tasks]
    results = []
    for i, case in enumerate(selected, start=1):
        path = _materialise(case, folder, i)
        run_dir = tmp / "runs" / f"{i:02d}_{case.task}"
        argv = _cli_args(case, path, run_dir)
        started = time.perf_counter()
        code, _stdout, stderr = call_cli(argv, TIMEOUT)
        seconds = time.perf_counter() - started
        verdict = _judge(case, path, code, stderr, run_dir)
        _reset_keras()
        results.append(
            CaseResult(
                category="data",
                name=case.name,
                task=case.task,
                passed=verdict.passed,
                what=verdict.what,
                seconds=round(seconds, 2),
                details={
                    "command": "python -m pipelines " + " ".join(argv),
                    "file": path.name,
                    "expected": "error naming the file"
                    + (f" and {', '.join(case.mentions)}" if case.mentions else "")
                    + (" or handled and reported" if case.handled and case.error_ok else "")
                    if case.error_ok
                    else "handled and reported",
                    "exit_status": code,
                    "stderr_tail": shorten(re.sub(r"\s+", " ", stderr[-600:]), 400),
                },
            )
        )
        mark = "ok  " if verdict.passed else "FAIL"
        where = f"{i}/{len(selected)} {mark} {case.task}: {case.name}"
        say(f"data {where} ({seconds:.1f} s): {verdict.what}")
    return results
