"""What an exported forecaster serves, and ``predict`` on recent CSV rows.

The SavedModel takes raw windows ``[batch, lookback, features]`` in the CSV's units (columns in
``info.feature_names`` order); the train statistics are constants in its graph.

Bounds (``ServeConfig``): a window's shape is fixed by the signature, so only the batch is
bounded: more than ``max_batch`` windows are rejected, and so is a window holding NaN or inf
(the model would turn it into a NaN forecast without a word). ``predict`` serves at most
``max_batch`` windows a call and names the row (time) and column of a non-finite value.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from data.forecast_series import read_recent_rows
from data.timeseries_csv import SeriesTable, iso
from data.timeseries_windows import WindowSpec
from pipelines.forecasting.config import ForecastingData, ForecastingInfo
from pipelines.spine.saved_model import write_saved_model
from pipelines.spine.sections import ServeConfig
from pipelines.spine.serve_bounds import check_batch

PREDICT_BATCH = 256  # windows per serving call in predict


def serving_function(
    model: keras.Model, info: ForecastingInfo, bounds: ServeConfig
) -> Callable[..., dict]:
    """Raw windows [batch, lookback, features] → {"forecast": [batch, horizon, targets]}
    in the CSV's units; the train statistics are constants in the graph. A window of another
    shape, a batch over ``bounds.max_batch`` or a non-finite value fails the call
    (``InvalidArgumentError`` saying which); an empty batch gets an empty forecast."""
    mean = tf.constant(info.mean, tf.float32)
    std = tf.constant(info.std, tf.float32)
    target_mean = tf.gather(mean, info.target_indices)
    target_std = tf.gather(std, info.target_indices)
    lookback, features = info.lookback, len(info.feature_names)
    empty = tf.zeros([0, info.horizon, len(info.target_indices)], tf.float32)

    # The signature takes any shape and checks it here: a loaded signature does not check
    # its inputs against a declared shape, and a window of another rank crashes the kernels.
    @tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.float32, name="window")])
    def serve(window):
        dims = tf.concat([tf.shape(window), [-1, -1, -1]], 0)[:3]
        fits = tf.logical_and(
            tf.equal(tf.rank(window), 3),
            tf.reduce_all(tf.equal(dims[1:], [lookback, features])),
        )
        check = tf.debugging.Assert(
            fits,
            [
                f"window: expected shape [batch, {lookback}, {features}] (lookback, features), got",
                tf.shape(window),
            ],
        )
        with tf.control_dependencies([check]):
            window = tf.ensure_shape(tf.identity(window), [None, lookback, features])
        window = check_batch(window, bounds.max_batch)
        window = tf.debugging.assert_all_finite(
            window, "window: NaN or inf in the input; send finite values (CSV units)"
        )

        def forecast():
            normalised = (window - mean) / std
            output = tf.cast(model(normalised, training=False), tf.float32)
            return output * target_std + target_mean

        # An empty batch gets an empty forecast (the recurrent kernels reject batch 0).
        return {"forecast": tf.cond(tf.shape(window)[0] > 0, forecast, lambda: empty)}

    return serve


def rows_needed(info: ForecastingInfo, season: int | None) -> int:
    """Rows ``forecast_rows`` needs: one window's span, and for the seasonal baseline the row
    ``season`` before the first forecast target."""
    span = WindowSpec.of(info).span
    return max(span, season - info.delay + 1) if season is not None else span


def rows_function(
    serve: Callable[..., dict], info: ForecastingInfo, season: int | None, bounds: ServeConfig
) -> Callable[..., dict]:
    """The ``forecast_rows`` signature: consecutive rows [batch, n, features] (raw units, in
    ``info.feature_names`` order, newest last, n >= :func:`rows_needed`) → the forecast from
    the newest window (``serve``'s, so the same numbers as ``serving_default``) and the
    baselines the evaluation scores beside it, each [batch, horizon, targets]:
    ``persistence`` (the target at the newest row) and, when the run has ``data.season``,
    ``seasonal`` (the target ``season`` rows before each forecast target). Fewer rows than
    needed, a non-finite value among the rows used or a batch over ``bounds.max_batch``
    fails the call saying which; older rows are ignored."""
    span, needed = WindowSpec.of(info).span, rows_needed(info, season)
    targets = tf.constant(info.target_indices, tf.int32)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.float32, name="rows")])
    def forecast_rows(rows):
        rows = check_batch(rows, bounds.max_batch)
        n = tf.shape(rows)[1]
        check = tf.debugging.Assert(
            tf.logical_and(tf.equal(tf.rank(rows), 3), n >= needed),
            [
                f"rows: need at least {needed} rows (lookback {info.lookback} x sampling rate "
                f"{info.sampling_rate}, season {season}, delay {info.delay}), got shape",
                tf.shape(rows),
            ],
        )
        with tf.control_dependencies([check]):
            used = tf.debugging.assert_all_finite(
                rows[:, n - needed :], "rows: NaN or inf in the rows used; send finite values"
            )
        out = {"forecast": serve(window=used[:, needed - span :: info.sampling_rate])["forecast"]}
        newest = tf.gather(used[:, -1, :], targets, axis=1)
        out["persistence"] = tf.tile(newest[:, None, :], [1, info.horizon, 1])
        if season is not None:
            # Target row of step j: (n - 1) + delay + j; its seasonal value is season rows back.
            first = needed - 1 + info.delay - season
            picked = tf.gather(used, tf.range(first, first + info.horizon), axis=1)
            out["seasonal"] = tf.gather(picked, targets, axis=2)
        return out

    return forecast_rows


def sample_function(
    table: SeriesTable, data: ForecastingData, info: ForecastingInfo, season: int | None
) -> Callable[..., dict]:
    """The ``sample_rows`` signature: the bundled series' newest rows as ``forecast_rows``
    takes them, and the layout a client needs to build such rows from its own CSV.

    ``offset`` [batch] int32: how many rows back from the end of the training series each
    sample ends (clipped to [0, delay + horizon - 1], so the page can compare a forecast with
    what happened). Returns ``times`` [batch, n] (ISO 8601), ``rows`` [batch, n, features]
    (n = :func:`rows_needed`), ``feature_names`` and ``target_names`` [batch, ...] and
    ``time_columns`` [batch, ...] (the CSV's ``data.time_column`` or ``data.time_parts``)."""
    needed = rows_needed(info, season)
    back = info.delay + info.horizon - 1
    kept = min(len(table), needed + back)
    times = tf.constant([iso(t) for t in table.times[len(table) - kept :]])
    values = tf.constant(table.values[len(table) - kept :], tf.float32)
    columns = [data.time_column] if data.time_column else list(data.time_parts or ())
    layout = {
        "feature_names": tf.constant(list(info.feature_names)),
        "target_names": tf.constant(list(info.target_names)),
        "time_columns": tf.constant(columns, tf.string, shape=[len(columns)]),
    }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="offset")])
    def sample_rows(offset):
        ends = kept - tf.clip_by_value(offset, 0, kept - needed)
        starts = ends - needed
        index = starts[:, None] + tf.range(needed)[None, :]
        out = {"times": tf.gather(times, index), "rows": tf.gather(values, index)}
        batch = tf.shape(offset)[:1]
        for name, value in layout.items():
            out[name] = tf.tile(value[None], tf.concat([batch, [1]], 0))
        return out

    return sample_rows


def export_forecaster(
    model: keras.Model,
    data: ForecastingData,
    info: ForecastingInfo,
    table: SeriesTable,
    path: Path,
    bounds: ServeConfig,
) -> dict[str, tf.Tensor]:
    """The SavedModel at ``path``: ``serving_function`` (within ``bounds``) as
    ``serving_default``, ``forecast_rows`` (forecast and baselines from raw rows) and
    ``sample_rows`` (the newest rows of ``table``, the training series); returns the
    example call: the window ending at the last row of ``table``."""
    serve = serving_function(model, info, bounds)
    latest = table.values[len(table) - WindowSpec.of(info).span :: info.sampling_rate]
    example = {"window": tf.constant(latest[None], tf.float32)}
    serve(**example)  # traces the graph before it is written
    forecast_rows = rows_function(serve, info, data.season, bounds)
    sample_rows = sample_function(table, data, info, data.season)
    forecast_rows(sample_rows(tf.constant([0]))["rows"])
    endpoints = {
        "serving_default": serve,
        "forecast_rows": forecast_rows,
        "sample_rows": sample_rows,
    }
    write_saved_model(path, [model], endpoints)
    return example


def recent_rows(
    data: ForecastingData, info: ForecastingInfo, inputs: Iterable[str] | None, path: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """(times, values in the training column order) of the CSV rows given to ``predict``:
    the file ``path`` (``--input``), else the lines ``inputs``, else standard input. The rows
    are read with the run's columns and its time step (``info.frequency``)."""
    if path is not None:
        table = read_recent_rows(data, Path(path), info.frequency, display=path)
        return align_features(table, info, path)
    text = "".join(inputs if inputs is not None else sys.stdin)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "stdin.csv"
        copy.write_text(text, encoding="utf-8")
        table = read_recent_rows(data, copy, info.frequency, display="<stdin>")
    return align_features(table, info, "<stdin>")


def align_features(
    table: SeriesTable, info: ForecastingInfo, display: str
) -> tuple[np.ndarray, np.ndarray]:
    """(times, values in ``info.feature_names`` order) of a CSV read for prediction.

    One-hot columns of categories absent from these rows are zeros; a category never seen in
    training is an error (the model has no input for it).
    """
    known = set(info.feature_names)
    unseen = [name for name in table.feature_names if name not in known]
    if unseen:
        raise ValueError(f"{display}: {', '.join(unseen)} not seen in training data")
    columns = []
    for name in info.feature_names:
        if name in table.feature_names:
            columns.append(table.values[:, table.feature_names.index(name)])
        elif "=" in name:
            columns.append(np.zeros(len(table), dtype=np.float32))
        else:
            raise ValueError(f"{display}: column '{name}' not found")
    return table.times, np.stack(columns, axis=1).astype(np.float32)


def forecast_records(
    serve: Callable[..., dict],
    info: ForecastingInfo,
    times: np.ndarray,
    values: np.ndarray,
    all_windows: bool,
    max_batch: int = PREDICT_BATCH,
) -> Iterator[dict[str, Any]]:
    """One record per forecast step of the newest window (or of every complete window):
    origin, steps ahead, the forecast time when the frequency is known, one value per target.
    Windows are served ``PREDICT_BATCH``, at most ``max_batch``, a call; a NaN or inf in a
    window is an error naming its row's time and column."""
    span = WindowSpec.of(info).span
    if len(values) < span:
        raise ValueError(
            f"predict: need at least {span} rows (lookback {info.lookback} x sampling "
            f"rate {info.sampling_rate}), got {len(values)}"
        )
    ends = range(span - 1, len(values)) if all_windows else [len(values) - 1]
    step = pd.tseries.frequencies.to_offset(info.frequency) if info.frequency else None
    size = min(PREDICT_BATCH, max_batch)
    batch: list[int] = []
    for end in ends:
        batch.append(end)
        if len(batch) == size or end == ends[-1]:
            windows = np.stack([values[e - span + 1 : e + 1 : info.sampling_rate] for e in batch])
            if not np.isfinite(windows).all():
                w, k, j = np.argwhere(~np.isfinite(windows))[0]
                row = pd.Timestamp(times[batch[w] - span + 1 + k * info.sampling_rate])
                raise ValueError(
                    f"predict: the row at {row.isoformat()} has {windows[w, k, j]} in column "
                    f"'{info.feature_names[j]}'; the model needs finite values"
                )
            forecast = serve(tf.constant(windows, tf.float32))["forecast"].numpy()
            for e, rows in zip(batch, forecast, strict=True):
                yield from _records(pd.Timestamp(times[e]), rows, info, step)
            batch = []


def _records(
    origin: pd.Timestamp, rows: np.ndarray, info: ForecastingInfo, step: pd.DateOffset | None
) -> Iterator[dict[str, Any]]:
    for j, row in enumerate(rows):
        ahead = info.delay + j
        record: dict[str, Any] = {"origin": origin.isoformat(), "steps_ahead": ahead}
        if step is not None:
            record["time"] = (origin + ahead * step).isoformat()
        record.update(
            {name: round(float(v), 4) for name, v in zip(info.target_names, row, strict=True)}
        )
        yield record
