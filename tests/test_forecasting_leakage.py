"""Forecasting preprocessing reads only the past and the train rows: gaps are filled from
earlier values, and one-hot inputs are the categories seen in training."""

import numpy as np

from data.forecast_series import load_series_for, split_series
from pipelines.forecasting.config import ForecastingData


def _write(path, temps, winds):
    rows = ["time,TEMP,cbwd"]
    for hour, (temp, wind) in enumerate(zip(temps, winds, strict=True)):
        rows.append(f"2021-03-01 {hour:02d}:00,{temp},{wind}")
    path.write_text("\n".join(rows) + "\n")


def _data(path, **changes):
    return ForecastingData(
        source="files", path=str(path), time_column="time", time_format=None,
        targets=("TEMP",), categorical=("cbwd",), lookback=2, sampling_rate=1, delay=1,
        horizon=1, season=None, split=(0.5, 0.25, 0.25), **changes,
    )  # fmt: skip


def test_gaps_are_filled_from_the_past_only(tmp_path):
    temps = ["1", "2", "", "", "5", "6", "7", "8", "9", "10", "11", "12"]
    winds = ["NE"] * 12
    path = tmp_path / "a.csv"
    _write(path, temps, winds)
    filled = load_series_for(_data(path)).column("TEMP").tolist()
    assert filled[:5] == [1, 2, 2, 2, 5]  # the default (ffill): the last value before the gap
    later = tmp_path / "b.csv"
    _write(later, [*temps[:4], "500", *temps[5:]], winds)  # change the value after the gap
    assert load_series_for(_data(later)).column("TEMP").tolist()[:4] == filled[:4]
    looked_ahead = load_series_for(_data(path, missing="interpolate")).column("TEMP").tolist()
    assert looked_ahead[:5] == [1, 2, 3, 4, 5]  # interpolate reads the value after the gap


def test_one_hot_inputs_are_the_categories_seen_in_train(tmp_path):
    path = tmp_path / "c.csv"
    winds = ["NE", "SE"] * 3 + ["NW"] * 6  # NW first appears in validation (rows 6..)
    _write(path, [str(v) for v in range(12)], winds)
    data = _data(path)
    table = load_series_for(data)
    assert table.feature_names == ("TEMP", "cbwd=NE", "cbwd=SE")
    assert table.target_indices == (0,)
    assert np.all(table.values[6:, 1:] == 0)  # NW rows: all-zero one-hot, as unknown
    splits = split_series(table, data)
    train = table.values[:6]
    np.testing.assert_allclose(splits.mean, train.mean(axis=0), rtol=1e-6)  # train rows only
