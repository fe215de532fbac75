"""A forecasting config's series, from its ``data`` section, in the few calls a pipeline makes:
``load_series_for`` (source → cleaned table with time features), ``split_series`` (rows,
window counts and train statistics per split), ``window_datasets`` (batched training windows).

Rules that need only the config are checked when it loads (``ForecastingData.check``); a
``data.*`` value this series cannot honour is a ``DataConfigError`` naming the key (and the file
when a split of it is shorter than one window).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np
import tensorflow as tf

from data.data_config_error import DataConfigError
from data.dataset_options import without_autotune
from data.sources import resolve_data_path, sample_path
from data.time_features import time_feature_names, time_features
from data.timeseries_csv import CsvSeriesSpec, SeriesTable, load_series
from data.timeseries_windows import (
    WindowSpec,
    chronological_split,
    fit_stats,
    normalize,
    timeseries_dataset_kwargs,
)
from data.url_download import cached_download

if TYPE_CHECKING:
    from pipelines.forecasting.config import ForecastingData

SPLITS = ("train", "validation", "test")


# --- reading ----------------------------------------------------------------------------------


def load_series_for(data: ForecastingData) -> SeriesTable:
    """The configured series with time features, as the model sees it (un-normalised), its
    one-hot columns those of the categories seen in the train rows."""
    table = load_series(csv_spec(data, series_path(data)))
    table = categories_seen_in_train(table, data)
    return with_time_features(table, data.time_features)


def categories_seen_in_train(table: SeriesTable, data: ForecastingData) -> SeriesTable:
    """``table`` without the one-hot columns of categories that never occur in its train rows:
    the inputs are decided by training data alone (a category first seen in validation or test
    reads as all-zero one-hot, as an unknown one would), so no later row shapes the model.
    Targets keep their column."""
    train = _split_rows(len(table), data)["train"]
    prefixes = tuple(f"{name}=" for name in data.categorical)
    targets = {table.feature_names[i] for i in table.target_indices}
    keep = [
        j
        for j, name in enumerate(table.feature_names)
        if not name.startswith(prefixes) or name in targets or table.values[train, j].any()
    ]
    if len(keep) == len(table.feature_names):
        return table
    names = tuple(table.feature_names[j] for j in keep)
    return dataclasses.replace(
        table,
        values=table.values[:, keep],
        feature_names=names,
        target_indices=tuple(
            names.index(n) for n in (table.feature_names[i] for i in table.target_indices)
        ),
    )


def read_recent_rows(
    data: ForecastingData, path: Path, frequency: str | None, display: str
) -> SeriesTable:
    """Rows to forecast from: the CSV at ``path`` read with the configured columns on the
    training grid ``frequency``; read errors name ``display`` instead of ``path``."""
    spec = dataclasses.replace(csv_spec(data, path), frequency=frequency)
    try:
        return with_time_features(load_series(spec), data.time_features)
    except ValueError as err:  # name the user's file, e.g. not a temporary copy of stdin
        raise type(err)(str(err).replace(str(path), display)) from None


def series_path(data: ForecastingData) -> Path:
    """The local CSV of the configured source (downloading it once for ``url``)."""
    if data.source == "sample":
        return sample_path("forecasting", data.sample_file)
    if data.source == "files":
        return resolve_data_path(data.path)
    return cached_download(data.url, data.url_member, data.cache_dir)


def csv_spec(data: ForecastingData, path: str | Path) -> CsvSeriesSpec:
    """The ``CsvSeriesSpec`` of the configured columns for the CSV at ``path`` (the
    rules across them are checked when the config loads: ``ForecastingData.check``)."""
    # Every spec setting but the path is the data key of the same name.
    fields = [f.name for f in dataclasses.fields(CsvSeriesSpec) if f.name != "path"]
    columns = {name: getattr(data, name) for name in fields}
    try:
        return CsvSeriesSpec(str(path), **columns)
    except ValueError as err:
        raise DataConfigError(f"data: {err}") from None


def with_time_features(table: SeriesTable, kinds: tuple[str, ...]) -> SeriesTable:
    """``table`` with sin/cos calendar columns appended after its features."""
    if not kinds:
        return table
    names = time_feature_names(kinds)
    clash = set(names) & set(table.feature_names)
    if clash:
        raise DataConfigError(f"data.time_features: columns {sorted(clash)} exist in the CSV")
    values = np.concatenate([table.values, time_features(table.times, kinds)], axis=1)
    return dataclasses.replace(table, values=values, feature_names=(*table.feature_names, *names))


# --- splitting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesSplits:
    """The chronological splits of a table and the train statistics."""

    rows: dict[str, slice]  # train / validation / test rows [start, stop)
    windows: dict[str, int]  # complete windows inside each split
    mean: np.ndarray  # float32 per feature, train rows only
    std: np.ndarray


def split_series(table: SeriesTable, data: ForecastingData) -> SeriesSplits:
    """Rows split by ``data.split`` in time order; every split must hold a window (an error
    naming the file and the window keys when one does not)."""
    rows = _split_rows(len(table), data)
    windows = _window_counts(table.report.path, len(table), rows, data)
    mean, std = fit_stats(table.values[rows["train"]])  # train rows only
    return SeriesSplits(rows, windows, mean, std)


def _split_rows(n: int, data: ForecastingData) -> dict[str, slice]:
    try:
        return dict(zip(SPLITS, chronological_split(n, tuple(data.split)), strict=True))
    except ValueError as err:
        raise DataConfigError(f"data.split: {err}") from None


def _window_counts(
    path: str, n: int, rows: dict[str, slice], data: ForecastingData
) -> dict[str, int]:
    window = WindowSpec.of(data)
    counts = {name: window.count(n, split) for name, split in rows.items()}
    for name, count in counts.items():
        if count == 0:
            split = rows[name]
            raise DataConfigError(
                f"{path}: the {name} split (rows {split.start}-{split.stop} of the {n} rows "
                f"used, {split.stop - split.start} rows) is shorter than one window + target "
                f"({window.rows_needed} rows from data.lookback, data.sampling_rate, "
                f"data.delay, data.horizon); give more rows, shorter windows or another "
                f"data.split"
            )
    return counts


# --- windows ------------------------------------------------------------------------------------


@dataclass
class WindowDatasets:
    """Batched (window, targets) datasets for training; ``train_batches`` is one pass."""

    train: tf.data.Dataset  # shuffled with the seed, reshuffled every pass
    validation: tf.data.Dataset
    train_batches: int


def window_datasets(
    table: SeriesTable, splits: SeriesSplits, window: WindowSpec, batch_size: int, seed: int
) -> WindowDatasets:
    """Train and validation windows of ``table``, normalised with the train statistics."""
    norm = normalize(table.values, splits.mean, splits.std)
    targets = table.target_indices
    train = windows_dataset(
        norm, targets, window, splits.rows["train"], batch_size, shuffle_seed=seed
    )
    validation = windows_dataset(norm, targets, window, splits.rows["validation"], batch_size)
    batches = int(train.cardinality())
    if batches < 0:  # timeseries_dataset_from_array batches a range: the count is known
        raise AssertionError(f"training windows: unknown batch count ({batches})")
    return WindowDatasets(train, validation, batches)


def windows_dataset(
    norm: np.ndarray,
    target_indices: tuple[int, ...] | list[int],
    window: WindowSpec,
    rows: slice,
    batch_size: int,
    shuffle_seed: int | None = None,
) -> tf.data.Dataset:
    """(window [b, lookback, features], targets [b, horizon, targets]) batches of ``rows``,
    built by ``keras.utils.timeseries_dataset_from_array`` with the one window alignment."""
    n, horizon = len(norm), window.horizon
    per_row = np.full((n, horizon, len(target_indices)), np.nan, dtype=np.float32)
    target_columns = norm[:, list(target_indices)]
    for step in range(horizon):  # per_row[t, step] = targets at row t + step
        per_row[: n - step, step] = target_columns[step:]
    kwargs = timeseries_dataset_kwargs(
        norm,
        per_row,
        window.lookback,
        window.delay,
        window.sampling_rate,
        rows.start,
        rows.stop - (horizon - 1),  # the last horizon step must lie inside the split too
    )
    ds = keras.utils.timeseries_dataset_from_array(
        **kwargs,
        batch_size=batch_size,
        shuffle=shuffle_seed is not None,
        seed=shuffle_seed,
    )
    return without_autotune(ds.prefetch(2))
