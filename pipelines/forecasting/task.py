"""Forecasting: Conv1D + MaxPooling1D + GRU on multivariate time series from CSV files.

Windows follow ``data.timeseries_csv`` (one alignment everywhere): window ``i`` reads rows
``i, i + r, ..., i + (lookback - 1) * r`` (``r = sampling_rate``) and forecasts the target
column(s) at rows ``last + delay + j`` for ``j < horizon``. Rows are split chronologically
(default 50/25/25); a split's windows are those whose inputs and targets all lie inside it, so
the model and every baseline are scored on exactly the same windows.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from data.dataset_options import without_autotune
from data.sources import resolve_data_path, sample_path
from data.time_features import time_feature_names, time_features
from data.timeseries_csv import (
    CsvSeriesSpec,
    SeriesTable,
    chronological_split,
    fit_stats,
    load_series,
    mae,
    naive_baselines,
    normalize,
    rmse,
    timeseries_dataset_kwargs,
    window_rows,
)
from data.url_download import cached_download
from models.conv_rnn_forecaster import ConvRNNForecaster
from models.linear_forecaster import LinearForecaster
from pipelines.spine.config import ConfigError, param
from pipelines.spine.sections import CellName, RNNConfig, TrainConfig
from pipelines.spine.task import Prepared, Task

JENA_URL = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/jena_climate_2009_2016.csv.zip"
)
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class ForecastingData:
    """Which CSV, how to read it, and how rows become windows (defaults: Jena Climate)."""

    source: Literal["sample", "files", "url"] = param(
        "url", doc="url: download once (keras cache); files: data.path; sample: bundled slice"
    )
    url: str = param(JENA_URL, doc="source url: a CSV or a zip/tar holding data.url_member")
    url_member: str | None = param(
        "jena_climate_2009_2016.csv", doc="file inside the downloaded archive; null = plain CSV"
    )
    cache_dir: str | None = param(None, doc="download cache; null = $KERAS_HOME or ~/.keras")
    path: str = param("beijing_pm25/pollution.csv.gz", doc="files source: under DATA_ROOT")
    sample_file: str = param("beijing_pm25_2014.csv.gz", doc="under data/samples/forecasting")
    time_column: str | None = param("Date Time", doc="timestamp column (or use time_parts)")
    time_format: str | None = param("%d.%m.%Y %H:%M:%S", doc="strftime format; null = ISO")
    time_parts: tuple[str, ...] | None = param(None, doc="year, month, day[, hour] columns")
    features: tuple[str, ...] = param((), doc="numeric input columns; empty = all numeric")
    targets: tuple[str, ...] = param(("T (degC)",), doc="forecast column(s)")
    categorical: tuple[str, ...] = param((), doc="columns one-hot encoded as inputs")
    missing: Literal["interpolate", "ffill", "drop"] = param("interpolate")
    frequency: str | None = param(None, doc="pandas offset alias; null = median time step")
    time_features: tuple[Literal["day", "year"], ...] = param(
        (), doc="add sin/cos of the time of day and/or year as input features"
    )
    split: tuple[float, ...] = param((0.5, 0.25, 0.25), doc="train/validation/test fractions")
    lookback: int = param(120, min=1, doc="input steps per window")
    sampling_rate: int = param(6, min=1, doc="rows between input steps")
    delay: int = param(144, min=1, doc="rows from the last input row to the (first) target")
    horizon: int = param(1, min=1, doc="consecutive target rows forecast")
    season: int | None = param(
        144, min=1, doc="seasonal naive: the value this many rows before the target"
    )
    plot_windows: int = param(336, min=1, doc="windows drawn in forecast_<split>.png")


@dataclass(frozen=True)
class ForecastingRNN(RNNConfig):
    """The shared recurrent stack with forecasting defaults: one forward GRU layer."""

    cell: CellName = param("gru", doc="rnn | lstm | gru | ln_lstm | ln_gru (layer-normalised)")
    units: int = param(32, min=1, doc="units per direction")
    bidirectional: bool = param(False)


@dataclass(frozen=True)
class ForecastingModel:
    architecture: Literal["conv_rnn", "rnn", "linear"] = param(
        "conv_rnn", doc="conv_rnn: conv blocks then the stack; rnn: the stack alone; linear"
    )
    conv_filters: tuple[int, ...] = param((32, 32), doc="filters per Conv1D+MaxPooling1D block")
    conv_kernel_size: int = param(5, min=1)
    pool_size: int = param(2, min=1)
    conv_dropout: float = param(0.0, min=0.0, max=0.95, doc="channel dropout after the convs")
    rnn: ForecastingRNN = field(default_factory=ForecastingRNN)
    head_units: int = param(0, min=0, doc="ReLU layer before the output; 0 = none")
    head_dropout: float = param(0.0, min=0.0, max=0.95)
    predict_delta: bool = param(True, doc="forecast the change from the last observed value")
    highway: Literal["none", "learned", "ridge", "ridge_frozen"] = param(
        "none",
        doc="linear map of the whole window added to the output (LSTNet highway): learned "
        "from scratch, or started at the ridge fit of the train windows (frozen: kept there)",
    )
    loss: Literal["mse", "mae", "huber"] = param("mse", doc="on normalised targets")
    linear_l2: float = param(10.0, min=0.0, doc="ridge penalty of the linear baseline")


@dataclass(frozen=True)
class ForecastingConfig:
    task: Literal["forecasting"] = param("forecasting")
    seed: int = param(42)
    data: ForecastingData = field(default_factory=ForecastingData)
    model: ForecastingModel = field(default_factory=ForecastingModel)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class ForecastingInfo:
    """Facts learned from the data: the input layout and the train statistics."""

    feature_names: list[str]  # input order of serving windows [batch, lookback, features]
    target_names: list[str]
    target_indices: list[int]  # of each target among feature_names
    mean: list[float]  # per feature, train rows only
    std: list[float]
    lookback: int
    sampling_rate: int
    delay: int
    horizon: int
    frequency: str | None
    source: str
    rows: int
    first_time: str
    last_time: str
    split_rows: dict[str, list[int]]  # [start, stop) per split
    windows: dict[str, int]
    load_report: dict[str, Any]


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def csv_spec(data: ForecastingData, path: str | Path) -> CsvSeriesSpec:
    """The ``CsvSeriesSpec`` of the configured columns for the CSV at ``path``."""
    if not data.targets:
        raise ConfigError("data.targets: give at least one target column")
    try:
        return CsvSeriesSpec(
            str(path),
            time_column=data.time_column,
            time_format=data.time_format,
            time_parts=data.time_parts,
            features=data.features,
            targets=data.targets,
            categorical=data.categorical,
            missing=data.missing,
            frequency=data.frequency,
        )
    except ValueError as err:
        raise ConfigError(f"data: {err}") from None


def source_path(data: ForecastingData) -> Path:
    """The local CSV of the configured source (downloading it once for ``url``)."""
    if data.source == "sample":
        return sample_path("forecasting", data.sample_file)
    if data.source == "files":
        return resolve_data_path(data.path)
    return cached_download(data.url, data.url_member, data.cache_dir)


def with_time_features(table: SeriesTable, kinds: tuple[str, ...]) -> SeriesTable:
    """``table`` with sin/cos calendar columns appended after its features."""
    if not kinds:
        return table
    names = time_feature_names(kinds)
    clash = set(names) & set(table.feature_names)
    if clash:
        raise ConfigError(f"data.time_features: columns {sorted(clash)} exist in the CSV")
    values = np.concatenate([table.values, time_features(table.times, kinds)], axis=1)
    return dataclasses.replace(table, values=values, feature_names=(*table.feature_names, *names))


def load_table(data: ForecastingData) -> SeriesTable:
    """The configured series with time features, as the model sees it (un-normalised)."""
    table = load_series(csv_spec(data, source_path(data)))
    return with_time_features(table, data.time_features)


def split_windows(n: int, data: ForecastingData, rows: slice) -> int:
    """How many windows (inputs and every horizon target inside ``rows``) the split has."""
    last_delay = data.delay + data.horizon - 1
    first, _, _ = window_rows(
        n, data.lookback, last_delay, data.sampling_rate, rows.start, rows.stop
    )
    return len(first)


def _split_slices(n: int, data: ForecastingData) -> dict[str, slice]:
    if len(data.split) != 3:
        raise ConfigError(
            f"data.split: give three fractions (train, validation, test), got {data.split}"
        )
    try:
        return dict(zip(SPLITS, chronological_split(n, tuple(data.split)), strict=True))
    except ValueError as err:
        raise ConfigError(f"data.split: {err}") from None


def _check_windows(data: ForecastingData, n: int, slices: dict[str, slice]) -> dict[str, int]:
    counts = {name: split_windows(n, data, rows) for name, rows in slices.items()}
    for name, count in counts.items():
        if count == 0:
            rows = slices[name]
            span = (data.lookback - 1) * data.sampling_rate + data.delay + data.horizon
            raise ConfigError(
                f"data: the {name} split (rows {rows.start}-{rows.stop}, "
                f"{rows.stop - rows.start} rows) is shorter than one window + target "
                f"({span} rows from data.lookback, sampling_rate, delay, horizon)"
            )
    if data.season is not None and data.season < data.delay + data.horizon - 1:
        raise ConfigError(
            f"data.season: {data.season} rows is not known at the forecast origin "
            f"(needs >= delay + horizon - 1 = {data.delay + data.horizon - 1})"
        )
    return counts


def _report_dict(table: SeriesTable) -> dict[str, Any]:
    report = table.report
    return {
        "rows_read": report.rows_read,
        "rows_out": report.rows_out,
        "policy": report.policy,
        "missing_before": report.missing_before,
        "values_filled": report.values_filled,
        "rows_inserted": report.rows_inserted,
        "rows_dropped": report.rows_dropped,
        "duplicates": report.duplicates,
        "gap_count": report.gap_count,
        "gap_timestamps": report.gap_timestamps,
        "gaps": [[_iso(a), _iso(b)] for a, b in report.gaps],
        "off_grid": report.off_grid,
    }


def windows_dataset(
    norm: np.ndarray,
    info: ForecastingInfo,
    rows: slice,
    batch_size: int,
    shuffle_seed: int | None = None,
) -> tf.data.Dataset:
    """(window [b, lookback, features], targets [b, horizon, targets]) batches of ``rows``,
    built by ``keras.utils.timeseries_dataset_from_array`` with the module's alignment."""
    n, horizon = len(norm), info.horizon
    per_row = np.full((n, horizon, len(info.target_indices)), np.nan, dtype=np.float32)
    target_columns = norm[:, info.target_indices]
    for step in range(horizon):  # per_row[t, step] = targets at row t + step
        per_row[: n - step, step] = target_columns[step:]
    kwargs = timeseries_dataset_kwargs(
        norm,
        per_row,
        info.lookback,
        info.delay,
        info.sampling_rate,
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


# --------------------------------------------------------------------------------------------
# Baselines and scoring
# --------------------------------------------------------------------------------------------


@dataclass
class SplitForecasts:
    """Every forecast of one split, in original units, aligned window by window."""

    target_times: np.ndarray  # [windows, horizon] datetime64
    actual: np.ndarray  # [windows, horizon, targets]
    forecasts: dict[str, np.ndarray]  # model, persistence, seasonal, linear → same shape
    persistence_every_row: float  # first target, first step, every row of the split a target


def _naive(values: np.ndarray, info: ForecastingInfo, data: ForecastingData, rows: slice):
    """Persistence and seasonal naive for every horizon step and target: same windows."""
    horizon, stop = info.horizon, rows.stop - (info.horizon - 1)
    actual, persistence, seasonal, target_rows = [], [], [], []
    for step in range(horizon):
        per_target = [
            naive_baselines(
                values,
                index,
                info.lookback,
                info.delay + step,
                info.sampling_rate,
                data.season,
                rows.start,
                stop + step,
            )
            for index in info.target_indices
        ]
        actual.append(np.stack([b.targets for b in per_target], axis=-1))
        persistence.append(np.stack([b.persistence for b in per_target], axis=-1))
        if data.season is not None:
            seasonal.append(np.stack([b.seasonal for b in per_target], axis=-1))
        target_rows.append(per_target[0].target_rows)
    out = {"persistence": np.stack(persistence, axis=1)}
    if seasonal:
        out["seasonal"] = np.stack(seasonal, axis=1)
    return np.stack(actual, axis=1), out, np.stack(target_rows, axis=1)


def _predict(model: keras.Model, ds: tf.data.Dataset, info: ForecastingInfo) -> np.ndarray:
    """Model forecasts over ``ds`` in original units."""
    mean = np.asarray(info.mean, dtype=np.float64)[info.target_indices]
    std = np.asarray(info.std, dtype=np.float64)[info.target_indices]
    windows = ds.map(lambda x, _: x)
    return np.asarray(model.predict(windows, verbose=0), dtype=np.float64) * std + mean


def fit_linear_baseline(
    norm: np.ndarray, info: ForecastingInfo, model_cfg: ForecastingModel
) -> LinearForecaster:
    """The ridge-regression linear model on the train windows (closed form, deterministic)."""
    linear = LinearForecaster(
        info.lookback,
        len(info.feature_names),
        info.horizon,
        len(info.target_indices),
        delta_indices=info.target_indices if model_cfg.predict_delta else (),
        name="linear_baseline",
    )
    rows = slice(*info.split_rows["train"])
    size = info.lookback * len(info.feature_names) + 1
    gram = np.zeros((size, size))
    moment = np.zeros((size, info.horizon * len(info.target_indices)))
    for x, y in windows_dataset(norm, info, rows, batch_size=1024).as_numpy_iterator():
        if model_cfg.predict_delta:
            y = y - x[:, -1, info.target_indices][:, None, :]
        design = np.concatenate([x.reshape(len(x), -1), np.ones((len(x), 1))], axis=1)
        gram += design.T @ design
        moment += design.T @ y.reshape(len(y), -1)
    linear.set_least_squares(gram, moment, model_cfg.linear_l2)
    return linear


def split_forecasts(
    model: keras.Model, cfg: ForecastingConfig, info: ForecastingInfo, split: str
) -> SplitForecasts:
    """Model, persistence, seasonal-naive and linear forecasts of ``split``'s windows."""
    if split not in ("test", "validation"):
        raise ValueError(f"split must be 'test' or 'validation', got {split!r}")
    table = load_table(cfg.data)
    if list(table.feature_names) != info.feature_names:
        raise ConfigError(
            f"{table.report.path}: features {list(table.feature_names)} differ from the run's "
            f"{info.feature_names} (the data changed since training)"
        )
    norm = normalize(table.values, np.asarray(info.mean), np.asarray(info.std))
    rows = slice(*info.split_rows[split])
    actual, forecasts, target_rows = _naive(table.values, info, cfg.data, rows)
    ds = windows_dataset(norm, info, rows, batch_size=1024)
    forecasts["model"] = _predict(model, ds, info)
    linear = fit_linear_baseline(norm, info, cfg.model)
    forecasts["linear"] = _predict(linear, ds, info)
    for name, values in forecasts.items():
        if values.shape != actual.shape:  # the shared window definition makes this impossible
            raise AssertionError(f"{name} forecasts {values.shape} != targets {actual.shape}")
    return SplitForecasts(
        table.times[target_rows],
        actual,
        forecasts,
        _every_row_persistence(table, info, rows),
    )


def _every_row_persistence(table: SeriesTable, info: ForecastingInfo, rows: slice) -> float:
    """Persistence MAE counting every row of the split as a target (the usual quoted figure:
    inputs may reach back into the previous split, so it scores more targets than the windows)."""
    start = max(rows.start, info.delay)
    column = table.values[:, info.target_indices[0]].astype(np.float64)
    return mae(column[start : rows.stop], column[start - info.delay : rows.stop - info.delay])


def score(result: SplitForecasts, info: ForecastingInfo) -> dict[str, Any]:
    """MAE/RMSE of every forecast (overall, per horizon step, per target)."""
    metrics: dict[str, Any] = {}
    order = ["model", "persistence", "seasonal", "linear"]
    for name in [n for n in order if n in result.forecasts]:
        prefix = "" if name == "model" else f"{name}_"
        values = result.forecasts[name]
        metrics[f"{prefix}mae"] = mae(result.actual, values)
        metrics[f"{prefix}rmse"] = rmse(result.actual, values)
    metrics["improvement_over_persistence"] = 1.0 - metrics["mae"] / metrics["persistence_mae"]
    if info.horizon > 1:
        metrics["per_step_mae"] = {
            name: [mae(result.actual[:, s], v[:, s]) for s in range(info.horizon)]
            for name, v in result.forecasts.items()
        }
    if len(info.target_names) > 1:
        metrics["per_target_mae"] = {
            target: {
                name: mae(result.actual[..., j], v[..., j]) for name, v in result.forecasts.items()
            }
            for j, target in enumerate(info.target_names)
        }
    return metrics


# --------------------------------------------------------------------------------------------
# Task
# --------------------------------------------------------------------------------------------


class ForecastingTask(Task):
    name = "forecasting"
    config_class = ForecastingConfig
    info_class = ForecastingInfo

    def prepare(self, cfg: ForecastingConfig) -> Prepared:
        data = cfg.data
        table = load_table(data)
        slices = _split_slices(len(table), data)
        counts = _check_windows(data, len(table), slices)
        mean, std = fit_stats(table.values[slices["train"]])  # train rows only
        info = ForecastingInfo(
            feature_names=list(table.feature_names),
            target_names=list(data.targets),
            target_indices=list(table.target_indices),
            mean=mean.tolist(),
            std=std.tolist(),
            lookback=data.lookback,
            sampling_rate=data.sampling_rate,
            delay=data.delay,
            horizon=data.horizon,
            frequency=table.report.frequency,
            source=table.report.path if data.source != "url" else data.url,
            rows=len(table),
            first_time=_iso(table.times[0]),
            last_time=_iso(table.times[-1]),
            split_rows={k: [s.start, s.stop] for k, s in slices.items()},
            windows=counts,
            load_report=_report_dict(table),
        )
        _say_report(info)
        norm = normalize(table.values, mean, std)
        batch = cfg.train.batch_size
        train = windows_dataset(norm, info, slices["train"], batch, shuffle_seed=cfg.seed)
        validation = windows_dataset(norm, info, slices["validation"], batch)
        return Prepared(
            train=train,
            validation=validation,
            info=info,
            train_examples=counts["train"],
            validation_examples=counts["validation"],
            probe_batch=next(iter(train)),
        )

    def build_model(self, cfg: ForecastingConfig, info: ForecastingInfo) -> keras.Model:
        m = cfg.model
        delta = info.target_indices if m.predict_delta else ()
        if m.architecture == "linear":
            return LinearForecaster(
                info.lookback,
                len(info.feature_names),
                info.horizon,
                len(info.target_indices),
                delta_indices=delta,
                name="linear_forecaster",
            )
        model = ConvRNNForecaster(
            lookback=info.lookback,
            num_features=len(info.feature_names),
            horizon=info.horizon,
            num_targets=len(info.target_indices),
            conv_filters=m.conv_filters if m.architecture == "conv_rnn" else (),
            kernel_size=m.conv_kernel_size,
            pool_size=m.pool_size,
            conv_dropout=m.conv_dropout,
            cell=m.rnn.cell,
            units=m.rnn.units,
            num_layers=m.rnn.layers,
            bidirectional=m.rnn.bidirectional,
            merge_mode=m.rnn.merge_mode,
            dropout=m.rnn.dropout,
            recurrent_dropout=m.rnn.recurrent_dropout,
            residual=m.rnn.residual,
            head_units=m.head_units,
            head_dropout=m.head_dropout,
            delta_indices=delta,
            highway=m.highway != "none",
            highway_trainable=m.highway != "ridge_frozen",
            name=f"{m.architecture}_forecaster",
        )
        if m.highway in ("ridge", "ridge_frozen"):
            # Start from the linear baseline: the network's head starts at zero, so training
            # begins at the ridge forecast and learns what it misses.
            table = load_table(cfg.data)
            norm = normalize(table.values, np.asarray(info.mean), np.asarray(info.std))
            linear = fit_linear_baseline(norm, info, m)
            model.get_layer("highway").set_weights(linear.head.get_weights())
            head = model.get_layer("head")
            head.set_weights([np.zeros_like(w) for w in head.get_weights()])
        return model

    def compile_args(self, cfg: ForecastingConfig, info: ForecastingInfo) -> dict[str, Any]:
        losses = {
            "mse": keras.losses.MeanSquaredError(),
            "mae": keras.losses.MeanAbsoluteError(),
            "huber": keras.losses.Huber(delta=1.0),
        }
        return {
            "loss": losses[cfg.model.loss],
            "metrics": [keras.metrics.MeanAbsoluteError(name="mae")],
        }

    def evaluate(self, model, cfg: ForecastingConfig, info: ForecastingInfo, split: str):
        result = split_forecasts(model, cfg, info, split)
        metrics = score(result, info)
        first, last = result.target_times[0, 0], result.target_times[-1, -1]
        return {
            "examples": len(result.actual),
            "target": ", ".join(info.target_names),
            **metrics,
            "persistence_mae_every_row": result.persistence_every_row,
            "windows": {
                "rule": (
                    "every window whose inputs and targets lie inside the split; all "
                    "forecasts are scored on these same windows, in original units"
                ),
                "lookback": info.lookback,
                "sampling_rate": info.sampling_rate,
                "delay": info.delay,
                "horizon": info.horizon,
                "season": cfg.data.season,
                "first_target_time": _iso(first),
                "last_target_time": _iso(last),
                "note": (
                    "persistence_mae_every_row scores persistence on every row of the split "
                    "(inputs may reach back into the previous split), i.e. on more targets "
                    "than the windows; it is the figure usually quoted for this split"
                    + (
                        "; season == delay, so seasonal naive equals persistence"
                        if cfg.data.season == info.delay and info.horizon == 1
                        else ""
                    )
                ),
            },
        }

    def write_reports(self, model, cfg: ForecastingConfig, info: ForecastingInfo, split, run_dir):
        from pipelines.forecasting.plots import plot_forecast, plot_training_curves

        result = split_forecasts(model, cfg, info, split)
        count = min(cfg.data.plot_windows, len(result.actual))
        target = info.target_names[0]
        chosen = {k: v[:count, 0, 0] for k, v in result.forecasts.items() if k != "seasonal"}
        paths = [
            plot_forecast(
                run_dir / f"forecast_{split}.png",
                result.target_times[:count, 0],
                result.actual[:count, 0, 0],
                chosen,
                title=f"{target}: forecast {info.delay} rows ahead vs actual ({split} split, "
                f"first {count} windows)",
                ylabel=target,
            )
        ]
        curves = plot_training_curves(run_dir / "training_curves.png", run_dir / "history.csv")
        return paths + ([curves] if curves else [])

    def serving_function(self, model, info: ForecastingInfo):
        """Raw windows [batch, lookback, features] → {"forecast": [batch, horizon, targets]}
        in the CSV's units; the train statistics are constants in the graph."""
        mean = tf.constant(info.mean, tf.float32)
        std = tf.constant(info.std, tf.float32)
        target_mean = tf.gather(mean, info.target_indices)
        target_std = tf.gather(std, info.target_indices)
        shape = [None, info.lookback, len(info.feature_names)]

        @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, name="window")])
        def serve(window):
            normalised = (window - mean) / std
            forecast = tf.cast(model(normalised, training=False), tf.float32)
            return {"forecast": forecast * target_std + target_mean}

        return serve

    def export(self, model, cfg: ForecastingConfig, info: ForecastingInfo, path: Path):
        serve = self.serving_function(model, info)
        table = load_table(cfg.data)
        span = (info.lookback - 1) * info.sampling_rate + 1
        latest = table.values[len(table) - span :: info.sampling_rate]  # the newest window
        example = {"window": tf.constant(latest[None], tf.float32)}
        serve(**example)
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", serve)
        archive.write_out(str(path), verbose=False)
        return example

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--input", help="CSV of recent rows, same columns as training (default: stdin)"
        )
        parser.add_argument(
            "--all-windows",
            action="store_true",
            help="forecast from every complete window, not only from the newest rows",
        )

    def predict(
        self,
        model,
        cfg: ForecastingConfig,
        info: ForecastingInfo,
        inputs: Iterable[str] | None,
        args: Any,
    ) -> Iterator[dict[str, Any]]:
        path = getattr(args, "input", None)
        if path is None:
            text = "".join(inputs if inputs is not None else sys.stdin)
            with tempfile.TemporaryDirectory() as tmp:
                path_in = Path(tmp) / "stdin.csv"
                path_in.write_text(text, encoding="utf-8")
                table = self._recent_table(cfg, info, path_in, display="<stdin>")
        else:
            table = self._recent_table(cfg, info, Path(path), display=path)
        yield from self._forecast_rows(model, info, table, getattr(args, "all_windows", False))

    def _recent_table(self, cfg, info: ForecastingInfo, path: Path, display: str):
        spec = dataclasses.replace(csv_spec(cfg.data, path), frequency=info.frequency)
        try:
            table = with_time_features(load_series(spec), cfg.data.time_features)
        except ValueError as err:  # name the user's file, not the temporary copy
            raise type(err)(str(err).replace(str(path), display)) from None
        return align_features(table, info, display)

    def _forecast_rows(self, model, info: ForecastingInfo, table, all_windows: bool):
        times, values = table
        span = (info.lookback - 1) * info.sampling_rate + 1
        if len(values) < span:
            raise ValueError(
                f"predict: need at least {span} rows (lookback {info.lookback} x sampling "
                f"rate {info.sampling_rate}), got {len(values)}"
            )
        serve = self.serving_function(model, info)
        ends = range(span - 1, len(values)) if all_windows else [len(values) - 1]
        step = pd.tseries.frequencies.to_offset(info.frequency) if info.frequency else None
        batch: list[int] = []
        for end in ends:
            batch.append(end)
            if len(batch) == 256 or end == ends[-1]:
                windows = np.stack(
                    [values[e - span + 1 : e + 1 : info.sampling_rate] for e in batch]
                )
                forecast = serve(tf.constant(windows, tf.float32))["forecast"].numpy()
                for e, rows in zip(batch, forecast, strict=True):
                    origin = pd.Timestamp(times[e])
                    for j, row in enumerate(rows):
                        ahead = info.delay + j
                        record = {"origin": origin.isoformat(), "steps_ahead": ahead}
                        if step is not None:
                            record["time"] = (origin + ahead * step).isoformat()
                        record.update(
                            {
                                name: round(float(v), 4)
                                for name, v in zip(info.target_names, row, strict=True)
                            }
                        )
                        yield record
                batch = []


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


def _iso(time: np.datetime64) -> str:
    return pd.Timestamp(time).isoformat()


def _say_report(info: ForecastingInfo) -> None:
    report = info.load_report
    filled = {k: v for k, v in report["missing_before"].items() if v}
    print(
        f"[forecasting] {info.source}: {report['rows_read']} rows read, {info.rows} used "
        f"({info.first_time} .. {info.last_time}, step {info.frequency}); missing values "
        f"({report['policy']}): {filled or 'none'}, {report['values_filled']} filled, "
        f"{report['rows_dropped']} rows dropped; {report['gap_count']} gap(s) in the time "
        f"index ({report['gap_timestamps']} timestamps, {report['rows_inserted']} rows "
        f"inserted); windows {info.windows}",
        file=sys.stderr,
        flush=True,
    )
