"""Every forecast of one split, in the CSV's units and aligned window by window: the model's,
and the baselines' on the same windows (what ``evaluate`` scores and ``write_reports`` draws)."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from data.forecast_series import load_series_for, windows_dataset
from data.timeseries_csv import SeriesTable
from data.timeseries_windows import WindowSpec, normalize
from pipelines.forecasting.baselines import (
    every_row_persistence,
    fit_linear_baseline,
    naive_forecasts,
)
from pipelines.forecasting.config import ForecastingConfig, ForecastingData, ForecastingInfo
from pipelines.spine.config import ConfigError
from pipelines.spine.task import check_split


@dataclass
class SplitForecasts:
    """Every forecast of one split, in original units, aligned window by window."""

    target_times: np.ndarray  # [windows, horizon] datetime64
    actual: np.ndarray  # [windows, horizon, targets]
    forecasts: dict[str, np.ndarray]  # model, persistence, seasonal, linear → same shape
    persistence_every_row: float  # first target, first step, every row of the split a target


def split_forecasts(
    model: keras.Model, cfg: ForecastingConfig, info: ForecastingInfo, split: str
) -> SplitForecasts:
    """Model, persistence, seasonal-naive and linear forecasts of ``split``'s windows."""
    check_split(split)
    table, norm = series_as_trained(cfg.data, info)
    rows = slice(*info.split_rows[split])
    actual, forecasts, target_rows = naive_forecasts(table.values, info, cfg.data.season, rows)
    ds = windows_dataset(norm, info.target_indices, WindowSpec.of(info), rows, batch_size=1024)
    forecasts["model"] = predict_in_units(model, ds, info)
    linear = fit_linear_baseline(norm, info, cfg.model)
    forecasts["linear"] = predict_in_units(linear, ds, info)
    for name, values in forecasts.items():
        if values.shape != actual.shape:  # the shared window definition makes this impossible
            raise AssertionError(f"{name} forecasts {values.shape} != targets {actual.shape}")
    return SplitForecasts(
        table.times[target_rows],
        actual,
        forecasts,
        every_row_persistence(table, info, rows),
    )


def series_as_trained(
    data: ForecastingData, info: ForecastingInfo
) -> tuple[SeriesTable, np.ndarray]:
    """The configured series and its values normalised with the run's train statistics."""
    table = load_series_for(data)
    if list(table.feature_names) != info.feature_names:
        raise ConfigError(
            f"{table.report.path}: features {list(table.feature_names)} differ from the run's "
            f"{info.feature_names} (the data changed since training)"
        )
    return table, normalize(table.values, np.asarray(info.mean), np.asarray(info.std))


def predict_in_units(model: keras.Model, ds: tf.data.Dataset, info: ForecastingInfo) -> np.ndarray:
    """Model forecasts over ``ds`` in original units."""
    mean = np.asarray(info.mean, dtype=np.float64)[info.target_indices]
    std = np.asarray(info.std, dtype=np.float64)[info.target_indices]
    windows = ds.map(lambda x, _: x)
    return np.asarray(model.predict(windows, verbose=0), dtype=np.float64) * std + mean
