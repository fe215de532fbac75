"""The baselines every forecast is scored against, on the same windows: persistence, seasonal
naive and a ridge-regression linear model of the whole window."""

from __future__ import annotations

import numpy as np

from data.forecast_series import windows_dataset
from data.timeseries_csv import SeriesTable
from data.timeseries_windows import WindowSpec, mae, naive_baselines
from models.linear_forecaster import LinearForecaster
from pipelines.forecasting.config import ForecastingInfo, ForecastingModel


def naive_forecasts(
    values: np.ndarray, info: ForecastingInfo, season: int | None, rows: slice
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Persistence and seasonal naive for every horizon step and target of ``rows``' windows,
    on the raw ``values``: (actual, {name: forecasts}, target rows), each [windows, horizon,
    (targets)]."""
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
                season,
                rows.start,
                stop + step,
            )
            for index in info.target_indices
        ]
        actual.append(np.stack([b.targets for b in per_target], axis=-1))
        persistence.append(np.stack([b.persistence for b in per_target], axis=-1))
        if season is not None:
            seasonal.append(np.stack([b.seasonal for b in per_target], axis=-1))
        target_rows.append(per_target[0].target_rows)
    out = {"persistence": np.stack(persistence, axis=1)}
    if seasonal:
        out["seasonal"] = np.stack(seasonal, axis=1)
    return np.stack(actual, axis=1), out, np.stack(target_rows, axis=1)


def every_row_persistence(table: SeriesTable, info: ForecastingInfo, rows: slice) -> float:
    """Persistence MAE counting every row of the split as a target (the usual quoted figure:
    inputs may reach back into the previous split, so it scores more targets than the windows)."""
    start = max(rows.start, info.delay)
    column = table.values[:, info.target_indices[0]].astype(np.float64)
    return mae(column[start : rows.stop], column[start - info.delay : rows.stop - info.delay])


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
    windows = windows_dataset(norm, info.target_indices, WindowSpec.of(info), rows, 1024)
    for x, y in windows.as_numpy_iterator():
        if model_cfg.predict_delta:
            y = y - x[:, -1, info.target_indices][:, None, :]
        design = np.concatenate([x.reshape(len(x), -1), np.ones((len(x), 1))], axis=1)
        gram += design.T @ design
        moment += design.T @ y.reshape(len(y), -1)
    linear.set_least_squares(gram, moment, model_cfg.linear_l2)
    return linear
