"""Forecasting end to end on the tiny config: data, windows, baselines, export, serving, CLI."""

import argparse
import gzip
import json
import math
import os
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from cli_helpers import run_cli, saved_model_cli_run, tiny_config, tiny_run_fixture

from data.data_config_error import DataConfigError
from data.forecast_series import load_series_for, windows_dataset
from data.sources import DataUnavailableError
from data.time_features import time_feature_names, time_features
from data.timeseries_csv import iso
from data.timeseries_windows import WindowSpec, naive_baselines, normalize
from data.url_download import cached_download
from pipelines.forecasting.baselines import fit_linear_baseline, naive_forecasts
from pipelines.forecasting.forecasts import SplitForecasts, split_forecasts
from pipelines.forecasting.serving import forecast_records, rows_needed
from pipelines.registry import get_task
from pipelines.spine import runner
from pipelines.spine.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent
TINY = tiny_config("forecasting")
SAMPLE = ROOT / "data" / "samples" / "forecasting" / "beijing_pm25_2014.csv.gz"
DATA_ROOT = Path(os.environ.get("DATA_ROOT", ROOT.parent / "shared" / "data"))


def _sample_lines() -> list[str]:
    return gzip.decompress(SAMPLE.read_bytes()).decode().splitlines()


trained = tiny_run_fixture("forecasting")


# --- data --------------------------------------------------------------------------------------


def test_time_features_by_hand():
    times = np.array(
        ["2014-01-01T00:00", "2014-01-01T06:00", "2014-01-01T12:00", "2014-07-02T12:00"],
        dtype="datetime64[ns]",
    )
    assert time_feature_names(["day", "year"]) == ("day_sin", "day_cos", "year_sin", "year_cos")
    values = time_features(times, ["day", "year"])
    np.testing.assert_allclose(values[:3, :2], [[0, 1], [1, 0], [0, -1]], atol=1e-6)
    assert values[0, 2] == 0 and values[0, 3] == 1  # new year's midnight: phase 0
    phase = 2 * np.pi * 182.5 / 365.2425  # 2 July 12:00 is 182.5 days into the year
    np.testing.assert_allclose(values[3, 2:], [np.sin(phase), np.cos(phase)], atol=1e-6)
    with pytest.raises(ValueError, match="unknown time features"):
        time_features(times, ["week"])


def test_windows_dataset_alignment_by_hand():
    # Row t holds (100 t, 100 t + 1): every value names its row.
    values = np.stack([np.arange(40) * 100.0, np.arange(40) * 100.0 + 1], axis=1).astype("f4")
    window = WindowSpec(lookback=3, sampling_rate=2, delay=4, horizon=2)
    x, y = next(iter(windows_dataset(values, [1], window, slice(10, 30), batch_size=100)))
    x, y = x.numpy(), y.numpy()
    # Window i reads rows i, i+2, i+4 (last = i+4); targets rows i+8 and i+9 of column 1.
    # Inside rows [10, 30) the last target row i + 9 <= 29, so i runs 10..20.
    assert x.shape == (11, 3, 2) and y.shape == (11, 2, 1)
    first = np.arange(10, 21)
    np.testing.assert_array_equal(x[:, :, 0], (first[:, None] + [0, 2, 4]) * 100)
    np.testing.assert_array_equal(y[:, :, 0], (first[:, None] + [8, 9]) * 100 + 1)
    # The same windows as the naive baselines of each horizon step.
    for step in range(2):
        naive = naive_baselines(values, 1, 3, 4 + step, 2, None, 10, 29 + step)
        np.testing.assert_array_equal(naive.targets, y[:, step, 0])
        np.testing.assert_array_equal(naive.persistence, x[:, -1, 1])


def test_shuffled_training_windows_are_the_same_set():
    values = np.arange(60, dtype="f4")[:, None]
    window = WindowSpec(lookback=4, sampling_rate=1, delay=2, horizon=1)
    plain = np.concatenate(
        [x[:, 0, 0] for x, _ in windows_dataset(values, [0], window, slice(0, 60), 8)]
    )
    shuffled = np.concatenate(
        [
            x[:, 0, 0]
            for x, _ in windows_dataset(values, [0], window, slice(0, 60), 8, shuffle_seed=3)
        ]
    )
    assert not np.array_equal(plain, shuffled)
    np.testing.assert_array_equal(np.sort(shuffled), plain)


def test_train_batches_is_one_pass_over_the_training_windows():
    task = get_task("forecasting")
    cfg = load_config(task.config_class, TINY)
    prepared = task.prepare(cfg)
    assert prepared.train_examples == 4366
    assert prepared.train_batches == math.ceil(4366 / cfg.train.batch_size) == 273
    assert sum(1 for _ in prepared.train) == prepared.train_batches


def test_config_errors_name_the_key(tmp_path):
    task = get_task("forecasting")
    # Rules that need only the config fail when it loads (tests/test_data_errors.py has more).
    with pytest.raises(ConfigError, match=r"data.season: 2 rows is not known"):
        load_config(task.config_class, TINY, ["data.season=2"])
    with pytest.raises(ConfigError, match=r"data.source: 'tfds' is not allowed"):
        load_config(task.config_class, TINY, ["data.source=tfds"])
    with pytest.raises(ConfigError, match=r"data\.time_column: give exactly one of time_column"):
        load_config(task.config_class, TINY, ["data.time_column=Date"])
    # A window longer than a split needs the data: the error names the file and the keys.
    with pytest.raises(
        DataConfigError,
        match=r"beijing_pm25_2014\.csv\.gz: the validation split .* is shorter than one window "
        r"\+ target \(4003 rows from data.lookback",
    ):
        task.prepare(load_config(task.config_class, TINY, ["data.lookback=2000"]))


def test_missing_target_column_is_one_line(tmp_path):
    task = get_task("forecasting")
    cfg = load_config(task.config_class, TINY, ["data.targets=[TEMPERATURE]"])
    with pytest.raises(ValueError, match=r"beijing_pm25_2014.csv.gz: column 'TEMPERATURE' not"):
        task.prepare(cfg)


def test_jena_default_fails_fast_offline(tmp_path):
    task = get_task("forecasting")
    cfg = load_config(task.config_class, None, [f"data.cache_dir={tmp_path}"])
    assert cfg.data.source == "url" and "jena_climate" in cfg.data.url
    started = time.perf_counter()
    with pytest.raises(DataUnavailableError, match=r"not cached in .* and no network"):
        task.prepare(cfg)
    assert time.perf_counter() - started < 15


def test_cached_download_reads_a_cached_archive(tmp_path):
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    with zipfile.ZipFile(datasets / "series.csv.zip", "w") as archive:
        archive.writestr("series.csv", "Date,Temp\n2020-01-01,1.5\n")
    url = "https://example.invalid/data/series.csv.zip"
    path = cached_download(url, "series.csv", str(tmp_path))
    assert path.read_text() == "Date,Temp\n2020-01-01,1.5\n"
    with pytest.raises(DataUnavailableError, match=r"archive has no 'other\.csv'"):
        cached_download(url, "other.csv", str(tmp_path))


@pytest.mark.skipif(
    not (DATA_ROOT / "melbourne_daily_min_temp").exists(), reason="DATA_ROOT data not present"
)
def test_melbourne_config_fills_the_two_missing_days():
    task = get_task("forecasting")
    cfg = load_config(task.config_class, ROOT / "configs" / "forecasting_melbourne.yaml")
    info = task.prepare(cfg).info
    report = info.load_report
    assert report["rows_read"] == 3650 and info.rows == 3652
    assert report["gap_count"] == 2 and report["rows_inserted"] == 2
    assert report["gaps"][0] == ["1984-12-31T00:00:00", "1984-12-31T00:00:00"]
    assert info.feature_names == ["Temp", "year_sin", "year_cos"]
    train, val, test = (b - a for a, b in info.split_rows.values())
    assert (train, val) == (1826, 913) and train + val + test == 3652
    assert info.windows == {"train": train - 30, "validation": val - 30, "test": test - 30}


# --- trained tiny run ------------------------------------------------------------------------


def test_run_directory_and_info(trained):
    _, run_dir, _, _ = trained
    for name in ["config.yaml", "info.json", "checkpoints/best.keras", "history.csv"]:
        assert (run_dir / name).exists(), name
    for png in ["forecast_test.png", "training_curves.png"]:
        assert (run_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    info = json.loads((run_dir / "info.json").read_text())
    assert info["feature_names"] == [
        "pm2.5", "DEWP", "TEMP", "PRES", "Iws", "Is", "Ir",
        "cbwd=NE", "cbwd=NW", "cbwd=SE", "cbwd=cv", "day_sin", "day_cos",
    ]  # fmt: skip
    assert info["target_indices"] == [2, 1] and info["rows"] == 8760
    assert info["split_rows"] == {
        "train": [0, 4380],
        "validation": [4380, 6570],
        "test": [6570, 8760],
    }
    assert info["load_report"]["missing_before"]["pm2.5"] == 99  # NA cells in the sample
    # Train statistics only: the mean of TEMP over the first half of 2014.
    temp = np.array([float(line.split(",")[7]) for line in _sample_lines()[1:4381]])
    np.testing.assert_allclose(info["mean"][2], temp.mean(), rtol=1e-5)
    # Windows: span (6 - 1) * 2 + 3 + 2 = 15 rows, so a split of n rows has n - 14 windows.
    assert info["windows"] == {"train": 4366, "validation": 2176, "test": 2176}


def test_metrics_side_by_side_on_the_same_windows(trained):
    task, run_dir, _, _ = trained
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["examples"] == 2176 and saved["target"] == "TEMP, DEWP"
    assert saved["reports"] == ["forecast_test.png", "training_curves.png"]
    for name in ["", "persistence_", "seasonal_", "linear_"]:
        assert 0 < saved[f"{name}mae"] <= saved[f"{name}rmse"]
    assert set(saved["per_step_mae"]) == {"model", "persistence", "seasonal", "linear"}
    assert set(saved["per_target_mae"]) == {"TEMP", "DEWP"}
    # Persistence recomputed independently from the raw CSV on the same windows.
    cfg, info = runner.load_run(task, run_dir)
    table = np.array([line.split(",") for line in _sample_lines()[1:]])
    temp, dewp = table[:, 7].astype(float), table[:, 6].astype(float)
    errors = []
    for column in (temp, dewp):
        for step in range(2):
            last = np.arange(6570, 6570 + 2176) + 10
            errors.append(np.abs(column[last + 3 + step] - column[last]))
    np.testing.assert_allclose(saved["persistence_mae"], np.mean(errors), rtol=1e-9)
    np.testing.assert_allclose(
        saved["improvement_over_persistence"], 1 - saved["mae"] / saved["persistence_mae"]
    )
    # Model MAE from the best checkpoint's own forecasts, denormalised by hand.
    model = runner.load_best_model(run_dir)
    result = split_forecasts(model, cfg, info, "test")
    np.testing.assert_allclose(
        np.abs(result.actual - result.forecasts["model"]).mean(), saved["mae"]
    )


def test_reports_come_from_the_evaluation_alone(trained, tmp_path, monkeypatch):
    task, run_dir, _, _ = trained
    cfg, info = runner.load_run(task, run_dir)
    model = runner.load_best_model(run_dir)
    evaluation = task.evaluate(model, cfg, info, "test")
    assert isinstance(evaluation.details, SplitForecasts)
    assert evaluation.metrics["examples"] == len(evaluation.details.actual) == 2176

    def again(*args, **kwargs):
        raise AssertionError("write_reports read, predicted or fitted again")

    monkeypatch.setattr("data.forecast_series.load_series", again)
    monkeypatch.setattr("pipelines.forecasting.forecasts.fit_linear_baseline", again)
    monkeypatch.setattr(model, "predict", again)
    (tmp_path / "history.csv").write_bytes((run_dir / "history.csv").read_bytes())
    paths = task.write_reports(model, cfg, info, evaluation, "test", tmp_path)
    assert [p.name for p in paths] == ["forecast_test.png", "training_curves.png"]


def test_export_serves_raw_windows(trained):
    task, run_dir, _, exported = trained
    _, info = runner.load_run(task, run_dir)
    served = tf.saved_model.load(str(exported["path"])).signatures["serving_default"]
    window = np.asarray(exported["inputs"]["window"], dtype="float32")
    assert window.shape == (1, 6, 13)
    out = served(window=tf.constant(window))["forecast"].numpy()
    assert out.shape == (1, 2, 2)
    # Normalisation happens inside the graph: the same as the Keras model on normalised input.
    model = runner.load_best_model(run_dir)
    mean, std = np.array(info.mean, "f4"), np.array(info.std, "f4")
    expected = model.predict_on_batch(normalize(window, mean, std))
    expected = expected * std[info.target_indices] + mean[info.target_indices]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(out, exported["outputs"]["forecast"], atol=1e-5)


def test_forecast_rows_and_sample_rows_match_the_python_paths(trained):
    task, run_dir, _, exported = trained
    cfg, info = runner.load_run(task, run_dir)
    loaded = tf.saved_model.load(str(exported["path"]))
    table = load_series_for(cfg.data)
    n = rows_needed(info, cfg.data.season)
    assert n == 24 - 3 + 1  # the seasonal value of the first target, not just a span (11)
    # offset: rows back from the end, clipped to [0, delay + horizon - 1 = 4].
    offsets = tf.constant([0, 3, 10**6, -5])
    sample = {k: v.numpy() for k, v in loaded.signatures["sample_rows"](offset=offsets).items()}
    ends = [len(table) - back for back in (0, 3, 4, 0)]
    for b, end in enumerate(ends):
        np.testing.assert_array_equal(sample["rows"][b], table.values[end - n : end])
        assert [t.decode() for t in sample["times"][b]] == [
            iso(t) for t in table.times[end - n : end]
        ]
    assert [t.decode() for t in sample["feature_names"][0]] == list(info.feature_names)
    assert [t.decode() for t in sample["target_names"][1]] == ["TEMP", "DEWP"]
    assert [t.decode() for t in sample["time_columns"][2]] == ["year", "month", "day", "hour"]

    out = loaded.signatures["forecast_rows"](rows=tf.constant(sample["rows"][:3]))
    out = {k: v.numpy() for k, v in out.items()}
    serve = loaded.signatures["serving_default"]
    for b, end in enumerate(ends[:3]):
        # The forecast: what predict prints for the same rows (forecast_records).
        records = forecast_records(
            lambda w: serve(window=w), info, table.times[:end], table.values[:end], False
        )
        expected = [[r[name] for name in info.target_names] for r in records]
        np.testing.assert_allclose(out["forecast"][b], expected, atol=1e-3)
    # The baselines: the evaluation's on the newest window whose targets are all known.
    _, baselines, target_rows = naive_forecasts(
        table.values, info, cfg.data.season, slice(len(table) - 100, len(table))
    )
    assert target_rows[-1].tolist() == [len(table) - 2, len(table) - 1]
    for name in ("persistence", "seasonal"):
        np.testing.assert_allclose(out[name][2], baselines[name][-1], atol=1e-6)
    rows = tf.constant(sample["rows"][:1])
    with pytest.raises(tf.errors.InvalidArgumentError, match="rows: need at least 22 rows"):
        loaded.signatures["forecast_rows"](rows=rows[:, 1:])
    nan = tf.tensor_scatter_nd_update(rows, [[0, n - 1, 2]], [float("nan")])
    with pytest.raises(tf.errors.InvalidArgumentError, match="rows: NaN or inf"):
        loaded.signatures["forecast_rows"](rows=nan)


def test_saved_model_cli_run(trained):
    _, _, _, exported = trained
    window = np.round(np.asarray(exported["inputs"]["window"]), 4).tolist()
    stdout = saved_model_cli_run(exported["path"], "serving_default", f"window={window}")
    text = stdout.split("Result for output key forecast:")[1]
    printed = np.array([float(v) for v in re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", text)])
    np.testing.assert_allclose(printed, np.ravel(exported["outputs"]["forecast"]), atol=1e-3)


def _recent_csv(rows: int) -> str:
    lines = _sample_lines()
    return "\n".join([lines[0], *lines[-rows:]]) + "\n"


def test_predict_cli_prints_json_lines(trained, tmp_path):
    _, run_dir, _, exported = trained
    result = run_cli("predict", "forecasting", "--run-dir", str(run_dir), stdin=_recent_csv(20))
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in result.stdout.strip().splitlines()]
    # The newest window only: one line per horizon step, dated from the last row.
    assert [r["steps_ahead"] for r in records] == [3, 4]
    assert records[0]["origin"] == "2014-12-31T23:00:00"
    assert [r["time"] for r in records] == ["2015-01-01T02:00:00", "2015-01-01T03:00:00"]
    # The export example is the newest window of the same data: identical forecasts.
    forecast = np.asarray(exported["outputs"]["forecast"])[0]
    np.testing.assert_allclose([[r["TEMP"], r["DEWP"]] for r in records], forecast, atol=1e-3)

    path = tmp_path / "recent.csv"
    path.write_text(_recent_csv(20))
    every = run_cli("predict", "forecasting", "--run-dir", str(run_dir), "--input", str(path),
                 "--all-windows")  # fmt: skip
    assert every.returncode == 0, every.stderr[-2000:]
    lines = every.stdout.strip().splitlines()
    assert len(lines) == (20 - 10) * 2  # windows ending at rows 10..19 (span 11), two steps


def test_predict_errors_are_one_line(trained, tmp_path):
    task, run_dir, _, _ = trained
    cfg, info = runner.load_run(task, run_dir)
    model = runner.load_best_model(run_dir)
    args = argparse.Namespace(input=None, all_windows=False)
    with pytest.raises(ValueError) as short:
        list(task.predict(model, cfg, info, _recent_csv(5).splitlines(True), args))
    assert str(short.value) == (
        "predict: need at least 11 rows (lookback 6 x sampling rate 2), got 5"
    )
    bad = _recent_csv(12).replace(",NW,", ",XX,")
    unseen = run_cli("predict", "forecasting", "--run-dir", str(run_dir), stdin=bad)
    assert unseen.returncode == 1 and "Traceback" not in unseen.stderr
    assert unseen.stderr.strip().splitlines()[-1] == (
        "error: <stdin>: cbwd=XX not seen in training data"
    )


def test_validation_split_and_other_architectures(trained, tmp_path):
    task, run_dir, _, _ = trained
    record = runner.evaluate(task, run_dir, "validation")
    assert record["examples"] == 2176 and record["split"] == "validation"
    assert (run_dir / "metrics_validation.json").exists()
    assert (run_dir / "forecast_validation.png").exists()
    _, info = runner.load_run(task, run_dir)
    for overrides in (
        ["model.architecture=rnn", "model.rnn.cell=lstm"],
        ["model.architecture=linear", "model.predict_delta=false"],
        ["model.rnn.cell=ln_gru", "model.highway=learned", "model.head_units=4"],
    ):
        cfg = load_config(task.config_class, TINY, overrides)
        model = task.build_model(cfg, info)
        assert model(np.zeros((2, 6, 13), "f4")).shape == (2, 2, 2), overrides
    assert pd.Timestamp(info.last_time) == pd.Timestamp("2014-12-31 23:00")


def test_ridge_highway_starts_at_the_linear_baseline(trained):
    task, run_dir, _, _ = trained
    _, info = runner.load_run(task, run_dir)
    cfg = load_config(task.config_class, TINY, ["model.highway=ridge_frozen"])
    model = task.build_model(cfg, info)
    assert not model.get_layer("highway").trainable and model.get_layer("head").trainable
    table = load_series_for(cfg.data)
    norm = normalize(table.values, np.array(info.mean, "f4"), np.array(info.std, "f4"))
    linear = fit_linear_baseline(norm, info, cfg.model)
    test_rows = slice(*info.split_rows["test"])
    windows = windows_dataset(norm, info.target_indices, WindowSpec.of(info), test_rows, 32)
    x, _ = next(iter(windows))
    np.testing.assert_allclose(model(x), linear(x), rtol=1e-4, atol=1e-4)
