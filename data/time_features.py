"""Calendar features from timestamps: sine/cosine of the time of day and of the year."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SECONDS_PER_DAY = 86400.0
DAYS_PER_YEAR = 365.2425  # mean Gregorian year, so the yearly cycle does not drift
TIME_FEATURES = ("day", "year")


def time_feature_names(kinds: Sequence[str]) -> tuple[str, ...]:
    """Column names for ``kinds`` (``day`` → ``day_sin, day_cos``; ``year`` likewise)."""
    unknown = [k for k in kinds if k not in TIME_FEATURES]
    if unknown:
        raise ValueError(f"unknown time features {unknown} (known: {', '.join(TIME_FEATURES)})")
    return tuple(f"{kind}_{fn}" for kind in kinds for fn in ("sin", "cos"))


def time_features(times: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
    """``[len(times), 2 * len(kinds)]`` float32 in the order of :func:`time_feature_names`.

    ``day``: phase of the time of day (midnight = 0); ``year``: phase of the day of the year
    (1 January 00:00 = 0), fractional days included.
    """
    time_feature_names(kinds)  # validates
    times = np.asarray(times).astype("datetime64[ns]")
    midnight = times.astype("datetime64[D]")
    seconds = (times - midnight).astype("timedelta64[ns]").astype(np.float64) / 1e9
    new_year = times.astype("datetime64[Y]").astype("datetime64[ns]")
    days = (times - new_year).astype("timedelta64[ns]").astype(np.float64) / 1e9 / SECONDS_PER_DAY
    columns = []
    for kind in kinds:
        phase = seconds / SECONDS_PER_DAY if kind == "day" else days / DAYS_PER_YEAR
        angle = 2.0 * np.pi * phase
        columns += [np.sin(angle), np.cos(angle)]
    if not columns:
        return np.zeros((len(times), 0), dtype=np.float32)
    return np.stack(columns, axis=1).astype(np.float32)
