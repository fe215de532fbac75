"""How the robustness suite judges one outcome: a CLI's exit status and stderr, a served
call's outputs or rejection. Pure functions over plain values (no TensorFlow), so the rules
themselves are tested (``tests/test_robustness_harness.py``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ERROR_PREFIX = "error: "
SHOWN = 300  # characters of a message kept in a case's "what"


@dataclass(frozen=True)
class Verdict:
    """Whether a case passed, and in a few words what happened."""

    passed: bool
    what: str


def shorten(text: str, limit: int = SHOWN) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def _missing(line: str, mentions: Iterable[str]) -> list[str]:
    return [m for m in mentions if m not in line]


def _not_rejected(
    returncode: int | None, stderr: str, lines: list[str], last_label: str
) -> Verdict | None:
    """The failures both error rules share: killed, a traceback, or accepted."""
    if returncode is None:
        last = f"; {last_label}: {shorten(lines[-1])}" if lines else ""
        return Verdict(False, "did not exit (killed)" + last)
    if "Traceback (most recent call last)" in stderr:
        return Verdict(False, f"traceback: {shorten(lines[-1]) if lines else ''}")
    if returncode == 0:
        return Verdict(False, "accepted (exit status 0)")
    return None


def one_line_error(returncode: int | None, stderr: str, mentions: Sequence[str]) -> Verdict:
    """A rejected bad config: non-zero exit, stderr exactly one line ``error: ...`` naming
    every one of ``mentions`` (a key, a file), and no traceback."""
    lines = _lines(stderr)
    failed = _not_rejected(returncode, stderr, lines, "stderr")
    if failed is not None:
        return failed
    if len(lines) != 1:
        last = shorten(lines[-1]) if lines else "(nothing)"
        return Verdict(False, f"{len(lines)} lines on stderr, last: {last}")
    line = lines[0]
    if not line.startswith(ERROR_PREFIX):
        return Verdict(False, f"not an 'error: ' line: {shorten(line)}")
    missing = _missing(line, mentions)
    if missing:
        return Verdict(False, f"does not name {', '.join(missing)}: {shorten(line)}")
    return Verdict(True, shorten(line))


def final_error(returncode: int | None, stderr: str, mentions: Sequence[str]) -> Verdict:
    """A rejected bad input after progress lines: non-zero exit, no traceback, exactly one
    ``error: ...`` line, the last one, naming every one of ``mentions``."""
    lines = _lines(stderr)
    failed = _not_rejected(returncode, stderr, lines, "last")
    if failed is not None:
        return failed
    errors = [line for line in lines if line.startswith(ERROR_PREFIX)]
    if not errors:
        last = shorten(lines[-1]) if lines else "(nothing)"
        return Verdict(False, f"exit status {returncode} without an 'error: ' line; last: {last}")
    if len(errors) > 1 or lines[-1] != errors[0]:
        return Verdict(False, f"{len(errors)} error lines, last line: {shorten(lines[-1])}")
    missing = _missing(errors[0], mentions)
    if missing:
        return Verdict(False, f"does not name {', '.join(missing)}: {shorten(errors[0])}")
    return Verdict(True, shorten(errors[0]))


def timely(seconds: float, limit: float) -> Verdict:
    """A call that must answer within ``limit`` seconds."""
    if seconds <= limit:
        return Verdict(True, f"{seconds:.3f} s")
    return Verdict(False, f"took {seconds:.2f} s (limit {limit} s)")


def clean_rejection(
    kind: str, message: str, seconds: float, limit: float, words: Sequence[str]
) -> Verdict:
    """A served call that raised: clean when it is an ``InvalidArgumentError`` (or, for an
    input the signature itself cannot take, ``ValueError``/``TypeError``, listed in ``kind``
    by the caller) answered within ``limit`` seconds whose message names one of ``words``
    (a ``serve.*`` limit or the problem, case-insensitive)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    naming = [line for line in lines if any(w.lower() in line.lower() for w in words)]
    first = (naming or lines or [""])[0]  # the line that names the problem, if one does
    if kind not in ("InvalidArgumentError", "ValueError", "TypeError"):
        return Verdict(False, f"{kind}: {shorten(first)}")
    if seconds > limit:
        return Verdict(False, f"rejected after {seconds:.2f} s (limit {limit} s): {shorten(first)}")
    lowered = message.lower()
    if not any(w.lower() in lowered for w in words):
        return Verdict(False, f"{kind} not naming {' or '.join(words)}: {shorten(first)}")
    return Verdict(True, f"rejected in {seconds:.3f} s: {kind}: {shorten(first, 160)}")


def all_finite(values: Iterable[float]) -> bool:
    """Every value is a finite number."""
    return all(math.isfinite(v) for v in values)


def rows_equal(
    a: Sequence[dict[str, str]], b: Sequence[dict[str, str]], ignore: Iterable[str] = ()
) -> Verdict:
    """Two CSV row lists (``csv.DictReader`` rows) equal in every column but ``ignore``."""
    skip = set(ignore)
    if len(a) != len(b):
        return Verdict(False, f"{len(a)} rows vs {len(b)}")
    for i, (x, y) in enumerate(zip(a, b, strict=True), start=1):
        kx = [k for k in x if k not in skip]
        ky = [k for k in y if k not in skip]
        if kx != ky:
            return Verdict(False, f"columns differ: {kx} vs {ky}")
        for key in kx:
            if x[key] != y[key]:
                return Verdict(False, f"row {i} {key}: {x[key]} vs {y[key]}")
    return Verdict(True, f"{len(a)} rows equal")


def timing_key(name: str) -> bool:
    """Whether a record key holds a duration or a rate (differs between equal runs)."""
    lowered = name.lower()
    return any(w in lowered for w in ("seconds", "per_second", "time", "wall", "duration"))
