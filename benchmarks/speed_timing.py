"""Measurement helpers shared by the speed sections (``benchmarks/speed_<name>.py``).

Ratios are the figures, absolute times only context (these machines are shared and noisy), so
the main tool is :func:`compare`: several arms timed in ONE process, interleaved round by
round (the order rotates each round), repeated, and summarised by medians. The rest measure
what a run costs: :func:`cpu_usage` (cores busy = process CPU time / wall time),
:func:`peak_rss_mb`, :func:`latencies` and :func:`percentiles` for serving, and
:class:`MachineLoad` (was anything else using the CPU while we measured?).

Nothing here imports TensorFlow or Keras: the harness and its tests stay light.
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MachineLoad",
    "compare",
    "cpu_usage",
    "latencies",
    "load_average",
    "median_interval",
    "peak_rss_mb",
    "percentiles",
    "progress",
    "ratio",
    "summarise",
    "time_call",
]


def progress(tag: str) -> Callable[[str], None]:
    """A function printing progress lines ``[<tag> HH:MM:SS] message`` on stderr (stdout is
    for results), flushed at once: a section's long runs show where they are."""

    def say(message: str) -> None:
        print(f"[{tag} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    return say


def time_call(fn: Callable[[], Any]) -> float:
    """Wall seconds of one call of ``fn``."""
    begun = time.perf_counter()
    fn()
    return time.perf_counter() - begun


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator`` rounded to 3 decimals; None when the denominator is 0."""
    return round(numerator / denominator, 3) if denominator else None


def compare(
    arms: Mapping[str, Callable[[], Any]],
    repeats: int = 5,
    warmup: int = 1,
    reference: str | None = None,
) -> dict[str, Any]:
    """Times every arm ``repeats`` times, interleaved, in this process.

    ``arms`` maps a name to a callable doing one unit of work (a train step, a batch of
    decoding: make it long enough, ≥ ~50 ms, that timer noise does not matter). Each arm is
    first called ``warmup`` times (tracing, caches), untimed. Then each round calls every arm
    once, the order rotated by one each round so that no arm always runs first or after the
    same neighbour.

    Returns a JSON-ready dict::

        {"reference": "keras_lstm", "repeats": 5, "warmup": 1,
         "median_s": {arm: median seconds},
         "times_s": {arm: [seconds of each round]},
         "ratio": {arm: median over rounds of (arm time / reference time in that round)},
         "ratio_interval": {arm: {"low", "high", "confidence"}},
         "ratio_of_medians": {arm: median_s[arm] / median_s[reference]}}

    ``ratio`` pairs the arms round by round, so a load change that slows one round slows
    both sides of its ratio; it is the figure to report. ``ratio_interval`` is its ~90%
    distribution-free interval (:func:`median_interval`): how far the rounds' noise leaves
    it from the median a longer run would find. ``reference`` defaults to the first
    arm; its ratios are 1.0.
    """
    if not arms:
        raise ValueError("compare: no arms")
    if repeats < 1:
        raise ValueError("compare: repeats must be ≥ 1")
    names = list(arms)
    reference = reference or names[0]
    if reference not in arms:
        raise ValueError(f"compare: reference {reference!r} is not an arm ({', '.join(names)})")
    for _ in range(warmup):
        for name in names:
            arms[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(time_call(arms[name]))
    return summarise(times, reference, warmup)


def median_interval(values: Iterable[float], confidence: float = 0.9) -> dict[str, Any] | None:
    """A distribution-free interval for the median of what ``values`` sample: the narrowest
    pair of order statistics ``(x_(k), x_(n+1-k))`` that holds the median with probability at
    least ``confidence`` (from the binomial(n, ½) law of how many values fall below it: no
    assumption on their distribution). With too few values for ``confidence`` it is the
    whole range, with the lower probability it has. ``{"low", "high", "confidence"}``; None
    without values."""
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return None

    def coverage(k: int) -> float:  # P(x_(k) <= median <= x_(n+1-k))
        return 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2**n

    k = 1
    while k + 1 <= (n + 1) // 2 and coverage(k + 1) >= confidence:
        k += 1
    return {
        "low": round(ordered[k - 1], 3),
        "high": round(ordered[n - k], 3),
        "confidence": round(coverage(k), 3),
    }


def paired(times: Mapping[str, list[float]], arm: str, reference: str) -> float:
    """Median over rounds of ``arm``'s time / ``reference``'s time in the same round."""
    rounds = zip(times[arm], times[reference], strict=True)
    return round(statistics.median(a / b for a, b in rounds), 3)


def summarise(times: Mapping[str, list[float]], reference: str, warmup: int = 0) -> dict[str, Any]:
    """The :func:`compare` record from per-round times (``times[arm][round]``), for sections
    that time rounds themselves (e.g. from a callback inside ``fit``)."""
    medians = {name: statistics.median(t) for name, t in times.items()}
    ref = times[reference]
    per_round = {
        name: [a / b for a, b in zip(t, ref, strict=True) if b] for name, t in times.items()
    }
    paired = {name: round(statistics.median(r), 3) for name, r in per_round.items()}
    return {
        "reference": reference,
        "repeats": len(ref),
        "warmup": warmup,
        "median_s": {name: round(m, 6) for name, m in medians.items()},
        "times_s": {name: [round(x, 6) for x in t] for name, t in times.items()},
        "ratio": paired,
        "ratio_interval": {
            name: median_interval(r) for name, r in per_round.items() if name != reference
        },
        "ratio_of_medians": {name: ratio(m, medians[reference]) for name, m in medians.items()},
    }


@dataclass
class Usage:
    """What one call cost: wall and CPU seconds, cores busy, peak RSS after it."""

    wall_s: float
    cpu_s: float
    result: Any = field(default=None, repr=False)

    @property
    def cores_busy(self) -> float:
        """Process CPU seconds per wall second (2.0 = both of 2 cores busy all the time)."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict[str, float]:
        """JSON-ready figures (the result left out)."""
        return {
            "wall_s": round(self.wall_s, 4),
            "cpu_s": round(self.cpu_s, 4),
            "cores_busy": round(self.cores_busy, 3),
            "peak_rss_mb": peak_rss_mb(),
        }


def cpu_usage(fn: Callable[[], Any]) -> Usage:
    """Calls ``fn`` once and returns its wall time and this process's CPU time over it (all
    threads: TensorFlow's intra/inter-op pools count). ``Usage.cores_busy`` is the
    utilisation figure the issue's goal (≥ 1.6 cores) is about."""
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    result = fn()
    return Usage(
        wall_s=time.perf_counter() - wall_before,
        cpu_s=time.process_time() - cpu_before,
        result=result,
    )


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def latencies(fn: Callable[[], Any], calls: int, warmup: int = 10) -> list[float]:
    """Seconds of each of ``calls`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    return [time_call(fn) for _ in range(calls)]


def percentiles(samples: Iterable[float], points: Iterable[float] = (50, 99)) -> dict[str, float]:
    """Nearest-rank percentiles of ``samples``: ``{"p50": …, "p99": …}`` in the samples' unit.

    Nearest rank (the smallest sample with at least p% of samples ≤ it) so that a p99 is a
    latency that was actually observed.
    """
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("percentiles: no samples")
    out = {}
    for p in points:
        rank = max(1, -(-len(ordered) * p // 100))  # ceil without floats
        out[f"p{p:g}"] = ordered[min(int(rank), len(ordered)) - 1]
    return out


def load_average() -> tuple[float, float, float] | None:
    """The 1, 5 and 15 minute load averages from ``/proc/loadavg`` (None off Linux)."""
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            one, five, fifteen = f.read().split()[:3]
        return float(one), float(five), float(fifteen)
    except (OSError, ValueError):
        return None


def _machine_busy_seconds() -> float | None:
    """CPU seconds every process on the machine has spent busy (non-idle) since boot."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    # guest time is already counted in user/nice; steal is time we did not get
    busy = sum(fields[:8]) - idle
    return busy / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class MachineLoad:
    """Whether other processes used the CPU while we measured.

    Use as a context manager (or call :meth:`start` / :meth:`stop`) around a measurement;
    :meth:`as_dict` then gives the load averages before and after, the machine's busy cores
    over the interval (from ``/proc/stat``), ours (this process and its waited-for children),
    and ``other_cores_busy`` = the difference: what others took. ``quiet`` is True when others
    took < :data:`QUIET_CORES` on average.
    """

    QUIET_CORES = 0.2

    def __init__(self) -> None:
        self._start: tuple[float, float | None, float] | None = None
        self._stop: tuple[float, float | None, float] | None = None
        self.load_before: tuple[float, float, float] | None = None
        self.load_after: tuple[float, float, float] | None = None

    def _sample(self) -> tuple[float, float | None, float]:
        return time.perf_counter(), _machine_busy_seconds(), _own_cpu_seconds()

    def start(self) -> MachineLoad:
        """Starts the interval."""
        self.load_before = load_average()
        self._start = self._sample()
        return self

    def stop(self) -> MachineLoad:
        """Ends the interval."""
        self._stop = self._sample()
        self.load_after = load_average()
        return self

    def __enter__(self) -> MachineLoad:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures of the interval."""
        out: dict[str, Any] = {
            "cpu_count": os.cpu_count(),
            "loadavg_before": list(self.load_before) if self.load_before else None,
            "loadavg_after": list(self.load_after) if self.load_after else None,
        }
        if self._start and self._stop:
            wall = self._stop[0] - self._start[0]
            ours = (self._stop[2] - self._start[2]) / wall if wall > 0 else 0.0
            out["wall_s"] = round(wall, 2)
            out["own_cores_busy"] = round(ours, 3)
            if self._start[1] is not None and self._stop[1] is not None and wall > 0:
                # /proc/stat counts in clock ticks: clamp the rounding of short intervals
                machine = min((self._stop[1] - self._start[1]) / wall, float(os.cpu_count() or 1))
                other = max(0.0, machine - ours)
                out["machine_cores_busy"] = round(machine, 3)
                out["other_cores_busy"] = round(other, 3)
                out["quiet"] = other < self.QUIET_CORES
        return out
