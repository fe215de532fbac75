"""Forecasting: Conv1D + MaxPooling1D + GRU on multivariate time series from CSV files.

Windows follow ``data.timeseries_windows`` (one alignment everywhere): window ``i`` reads rows
``i, i + r, ..., i + (lookback - 1) * r`` (``r = sampling_rate``) and forecasts the target
column(s) at rows ``last + delay + j`` for ``j < horizon``. Rows are split chronologically
(default 50/25/25); a split's windows are those whose inputs and targets all lie inside it, so
the model and every baseline are scored on exactly the same windows.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import keras

from data.forecast_series import load_series_for, split_series, window_datasets
from data.timeseries_windows import WindowSpec
from pipelines.forecasting.config import ForecastingConfig, ForecastingInfo
from pipelines.forecasting.forecasts import SplitForecasts, split_forecasts
from pipelines.forecasting.metrics import split_metrics
from pipelines.forecasting.model import LOSSES, build_forecaster
from pipelines.forecasting.plots import report_plots
from pipelines.forecasting.serving import (
    export_forecaster,
    forecast_records,
    recent_rows,
    serving_function,
)
from pipelines.spine.portable_model import PortableModel
from pipelines.spine.task import Benchmark, BenchmarkGoal, Evaluation, Prepared, Task


class ForecastingTask(Task[ForecastingConfig, ForecastingInfo]):
    """The next values of CSV columns: windows of rows → ``ConvRNNForecaster`` → forecasts."""

    name = "forecasting"
    benchmark = Benchmark(
        dataset="Beijing PM2.5 hourly 2010-2014 (UCI; Liang et al. 2015), "
        "DATA_ROOT/beijing_pm25/pollution.csv.gz; TEMP 24 h ahead from 120 h of all features; "
        "chronological split 50/25/25, scored on the 10,813 test windows",
        metric="mae",
        goal=2.15,
        higher_is_better=False,
        baselines=("persistence_mae", "seasonal_mae", "linear_mae"),
        extra_goals=(BenchmarkGoal("mae", "<=", 0.95, relative_to="linear_mae"),),
    )

    def prepare(self, cfg: ForecastingConfig) -> Prepared[ForecastingInfo]:
        table = load_series_for(cfg.data)
        splits = split_series(table, cfg.data)
        info = ForecastingInfo.learned(cfg.data, table, splits)
        self.say(info.summary())
        for note in info.data_notes():  # what was dropped or filled, also in info.json
            self.say(note)
        window = WindowSpec.of(cfg.data)
        datasets = window_datasets(table, splits, window, cfg.train.batch_size, cfg.seed)
        return Prepared(
            train=datasets.train,
            validation=datasets.validation,
            info=info,
            train_examples=splits.windows["train"],
            validation_examples=splits.windows["validation"],
            train_batches=datasets.train_batches,
            probe_batch=next(iter(datasets.train)),
        )

    def build_model(self, cfg: ForecastingConfig, info: ForecastingInfo) -> keras.Model:
        return build_forecaster(cfg, info)

    def compile_args(self, cfg: ForecastingConfig, info: ForecastingInfo) -> dict[str, Any]:
        return {
            "loss": LOSSES[cfg.model.loss](),
            "metrics": [keras.metrics.MeanAbsoluteError(name="mae")],
        }

    def evaluate(
        self, model: keras.Model, cfg: ForecastingConfig, info: ForecastingInfo, split: str
    ) -> Evaluation:
        forecasts = split_forecasts(model, cfg, info, split)
        return Evaluation(metrics=split_metrics(forecasts, cfg.data, info), details=forecasts)

    def write_reports(
        self,
        model: keras.Model,
        cfg: ForecastingConfig,
        info: ForecastingInfo,
        evaluation: Evaluation,
        split: str,
        run_dir: Path,
    ) -> list[Path]:
        forecasts: SplitForecasts = evaluation.details
        return report_plots(run_dir, split, forecasts, info, cfg.data.plot_windows)

    def export(
        self, model: keras.Model, cfg: ForecastingConfig, info: ForecastingInfo, path: Path
    ) -> dict[str, Any]:
        return export_forecaster(model, cfg.data, info, load_series_for(cfg.data), path, cfg.serve)

    def portable(
        self, model: keras.Model, cfg: ForecastingConfig, info: ForecastingInfo
    ) -> PortableModel:
        from pipelines.forecasting.portable import portable_forecaster

        return portable_forecaster(model, info)

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
        model: keras.Model,
        cfg: ForecastingConfig,
        info: ForecastingInfo,
        inputs: Iterable[str] | None,
        args: Any,
    ) -> Iterator[dict[str, Any]]:
        times, values = recent_rows(cfg.data, info, inputs, getattr(args, "input", None))
        serve = serving_function(model, info, cfg.serve)
        all_windows = getattr(args, "all_windows", False)
        yield from forecast_records(serve, info, times, values, all_windows, cfg.serve.max_batch)
