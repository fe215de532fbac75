"""Splits, statistics, windows and naive baselines of a series table (plain numpy).

Window alignment (the one definition used everywhere here)
----------------------------------------------------------
With ``r = sampling_rate`` and ``span = (lookback - 1) * r + 1``, window ``i`` has ``lookback``
input steps: rows ``i, i + r, ..., i + (lookback - 1) * r``, i.e. rows ``[i, i + span)`` sampled
every ``r`` rows (for ``r = 1`` simply rows ``[i, i + lookback)``). Its last observed row is
``last = i + (lookback - 1) * r`` and its target is row ``last + delay`` (``delay >= 1``; with
hourly data ``delay=24`` means 24 hours after the last observed hour). So the target of window
``i`` is row ``i + offset`` with ``offset = (lookback - 1) * r + delay``.

Restricted to the rows ``[start, stop)`` of a split, the windows are those with
``start <= i`` and ``i + offset <= stop - 1``: inputs and target both lie inside the split.

The same windows from Keras (``keras.utils.timeseries_dataset_from_array`` pairs the window that
starts at data index ``i`` with ``targets[i]``)::

      offset = (lookback - 1) * sampling_rate + delay
      keras.utils.timeseries_dataset_from_array(
          data=values[: stop - delay],            # last usable input row is stop - 1 - delay
          targets=target_column[offset:stop],     # targets[i] == target_column[i + offset]
          sequence_length=lookback, sampling_rate=sampling_rate,
          start_index=start or None)

``timeseries_dataset_kwargs`` returns exactly those arguments. Note that the common recipe
``data[:-delay], targets[delay:]`` with ``delay`` meaning *steps after the last input* is off by
``(lookback - 1) * sampling_rate``: ``targets`` must be shifted by the full ``offset``.

Baselines: the persistence forecast of window ``i`` is the target column at row ``last`` (the
last observed step); the seasonal-naive forecast is the target column at row
``target_row - season`` (``season >= delay`` so the value is known at the forecast origin).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = [
    "NaiveBaselines",
    "WindowSpec",
    "chronological_split",
    "fit_stats",
    "mae",
    "naive_baselines",
    "normalize",
    "rmse",
    "timeseries_dataset_kwargs",
    "window_rows",
    "window_targets",
]


class _HasWindow(Protocol):
    lookback: int
    sampling_rate: int
    delay: int
    horizon: int


@dataclass(frozen=True)
class WindowSpec:
    """How rows become windows (see the module docstring): ``lookback`` input steps every
    ``sampling_rate`` rows; targets ``delay`` rows after the last input, ``horizon`` in a row."""

    lookback: int
    sampling_rate: int
    delay: int
    horizon: int = 1

    @classmethod
    def of(cls, source: _HasWindow) -> WindowSpec:
        """The window settings of a config section or info object with these four fields."""
        return cls(source.lookback, source.sampling_rate, source.delay, source.horizon)

    @property
    def span(self) -> int:
        """Rows one window's inputs cover, first to last."""
        return (self.lookback - 1) * self.sampling_rate + 1

    @property
    def rows_needed(self) -> int:
        """Rows from a window's first input to its last target."""
        return (self.lookback - 1) * self.sampling_rate + self.delay + self.horizon

    def count(self, n: int, rows: slice) -> int:
        """Windows whose inputs and every horizon target lie inside ``rows`` of ``n``."""
        last_delay = self.delay + self.horizon - 1
        first, _, _ = window_rows(
            n, self.lookback, last_delay, self.sampling_rate, rows.start, rows.stop
        )
        return len(first)


def chronological_split(
    n: int, fractions: tuple[float, float, float] = (0.5, 0.25, 0.25)
) -> tuple[slice, slice, slice]:
    """Split ``n`` rows into consecutive train/val/test slices.

    ``train = floor(n * f0)``, ``val = floor(n * f1)``, test gets the rest. Fractions must be
    three finite numbers in [0, 1] summing to 1 with a positive train fraction.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer: {n!r}")
    fractions = tuple(fractions)
    if len(fractions) != 3:
        raise ValueError(f"fractions must be (train, val, test): {fractions!r}")
    if not all(isinstance(f, (int, float, np.floating)) and math.isfinite(f) for f in fractions):
        raise ValueError(f"fractions must be finite numbers: {fractions!r}")
    if any(f < 0 or f > 1 for f in fractions):
        raise ValueError(f"fractions must lie in [0, 1]: {fractions!r}")
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1: {fractions!r} sums to {sum(fractions)}")
    if fractions[0] <= 0:
        raise ValueError(f"the train fraction must be positive: {fractions!r}")
    n_train = math.floor(n * fractions[0] + 1e-9)
    n_val = math.floor(n * fractions[1] + 1e-9)
    return slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, n)


def fit_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std (ddof=0) of ``values``; pass the TRAIN rows only.

    A std of 0 (constant column) is replaced by 1 so normalising does not divide by zero.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[0] == 0:
        raise ValueError("fit_stats needs at least one row")
    if not np.isfinite(arr).all():
        raise ValueError("fit_stats: values contain NaN or inf")
    mean = arr.mean(axis=0)
    std = arr.std(axis=0)
    std[std == 0] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def normalize(values: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(values - mean) / std`` as float32."""
    return ((np.asarray(values, dtype=np.float32) - mean) / std).astype(np.float32)


def window_rows(
    n: int,
    lookback: int,
    delay: int,
    sampling_rate: int = 1,
    start: int = 0,
    stop: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(first_rows, last_rows, target_rows)`` of every window inside rows ``[start, stop)``.

    Window ``i`` reads rows ``i, i + r, ..., i + (lookback - 1) * r``; its target is row
    ``i + (lookback - 1) * r + delay``. Empty arrays when no window fits.
    """
    for name, value, low in (("lookback", lookback, 1), ("delay", delay, 1)):
        if int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}: {value!r}")
    if int(sampling_rate) != sampling_rate or sampling_rate < 1:
        raise ValueError(f"sampling_rate must be an integer >= 1: {sampling_rate!r}")
    stop = n if stop is None else stop
    if not 0 <= start <= stop <= n:
        raise ValueError(f"need 0 <= start <= stop <= n: start={start}, stop={stop}, n={n}")
    offset = (lookback - 1) * sampling_rate + delay
    first = np.arange(start, max(start, stop - offset), dtype=np.int64)
    last = first + (lookback - 1) * sampling_rate
    return first, last, last + delay


def _target_column(series: np.ndarray, target_index: int | None) -> np.ndarray:
    arr = np.asarray(series)
    if arr.ndim == 1:
        if target_index not in (None, 0):
            raise ValueError(f"1-D series: target_index must be 0 or None: {target_index}")
        return arr
    if arr.ndim != 2:
        raise ValueError(f"series must be 1-D or 2-D [rows, features]: shape {arr.shape}")
    if target_index is None:
        raise ValueError("target_index is required for a 2-D series")
    return arr[:, target_index]


def window_targets(
    series: np.ndarray,
    target_index: int | None,
    lookback: int,
    delay: int,
    sampling_rate: int = 1,
    start: int = 0,
    stop: int | None = None,
) -> np.ndarray:
    """The target of every window in ``[start, stop)``: ``series[i + offset, target_index]``."""
    col = _target_column(series, target_index)
    _, _, target_rows = window_rows(len(col), lookback, delay, sampling_rate, start, stop)
    return col[target_rows]


def timeseries_dataset_kwargs(
    values: np.ndarray,
    targets: np.ndarray,
    lookback: int,
    delay: int,
    sampling_rate: int = 1,
    start: int = 0,
    stop: int | None = None,
) -> dict:
    """Arguments for ``keras.utils.timeseries_dataset_from_array`` giving exactly the windows of
    ``window_rows`` in ``[start, stop)``; ``targets`` is the per-row target array (same rows as
    ``values``, e.g. ``values[:, target_index]``). Add batch_size/shuffle yourself."""
    n = len(values)
    if len(targets) != n:
        raise ValueError(f"values and targets differ in length: {n} != {len(targets)}")
    first, _, _ = window_rows(n, lookback, delay, sampling_rate, start, stop)
    if len(first) == 0:
        raise ValueError(f"no complete window fits in rows [{start}, {stop})")
    stop = n if stop is None else stop
    offset = (lookback - 1) * sampling_rate + delay
    return {
        "data": values[: stop - delay],
        "targets": targets[offset:stop],
        "sequence_length": lookback,
        "sampling_rate": sampling_rate,
        "start_index": start if start > 0 else None,
    }


@dataclass(frozen=True)
class NaiveBaselines:
    """Naive forecasts for the windows of ``window_rows``, aligned with ``targets``."""

    targets: np.ndarray
    persistence: np.ndarray
    seasonal: np.ndarray | None
    season: int | None
    target_rows: np.ndarray

    def scores(self) -> dict[str, float]:
        """MAE and RMSE of each baseline."""
        out = {
            "persistence_mae": mae(self.targets, self.persistence),
            "persistence_rmse": rmse(self.targets, self.persistence),
        }
        if self.seasonal is not None:
            out["seasonal_mae"] = mae(self.targets, self.seasonal)
            out["seasonal_rmse"] = rmse(self.targets, self.seasonal)
        return out


def naive_baselines(
    series: np.ndarray,
    target_index: int | None,
    lookback: int,
    delay: int,
    sampling_rate: int = 1,
    season: int | None = None,
    start: int = 0,
    stop: int | None = None,
) -> NaiveBaselines:
    """Persistence and seasonal-naive forecasts on the raw (un-normalised) ``series``.

    Persistence: the target at the window's last observed row. Seasonal naive: the target at
    ``target_row - season``; needs ``season >= delay`` (known at the forecast origin) and
    ``target_row - season >= 0`` for every window (it lies inside the window's span when
    ``season <= (lookback - 1) * sampling_rate + delay``).
    """
    col = np.asarray(_target_column(series, target_index), dtype=np.float64)
    _, last, target_rows = window_rows(len(col), lookback, delay, sampling_rate, start, stop)
    if len(target_rows) == 0:
        raise ValueError(f"no complete window fits in rows [{start}, {stop}) of {len(col)}")
    seasonal = None
    if season is not None:
        if int(season) != season or season < delay:
            raise ValueError(f"season must be an integer >= delay ({delay}): {season!r}")
        if target_rows[0] - season < 0:
            raise ValueError(
                f"season {season} reaches before row 0 for the first window "
                f"(target row {target_rows[0]})"
            )
        seasonal = col[target_rows - season]
    return NaiveBaselines(
        targets=col[target_rows],
        persistence=col[last],
        seasonal=seasonal,
        season=season,
        target_rows=target_rows,
    )


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error (float64)."""
    diff = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.mean(np.abs(diff)))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error (float64)."""
    diff = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.sqrt(np.mean(diff**2)))
